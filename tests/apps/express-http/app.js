// An ordinary Express app, wrapped for Lambda by serverless-http: what users deploy behind API Gateway.
const express = require("express");
const serverless = require("serverless-http");

const app = express();
app.get("/hello/:name", (req, res) => {
  res.set("x-app", "express").cookie("seen", "1").cookie("lang", "en");
  res.json({ hello: req.params.name, query: req.query, path: req.path, method: req.method });
});
// the benchmark's route (benchmarks/http_api_vs_offline.py): serverless-offline 13 answers 500 to
// the cookies /hello sets ("Invalid cookie value"), so the comparison uses a route without them
app.get("/hi/:name", (req, res) => res.json({ hello: req.params.name }));
app.post("/echo", express.text({ type: "*/*" }), (req, res) => {
  res.type("text/plain").send(`echo:${req.body}`);
});
app.use((req, res) => res.status(404).json({ missing: req.path }));

module.exports.handler = serverless(app);
