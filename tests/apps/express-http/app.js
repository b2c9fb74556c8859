// An ordinary Express app, wrapped for Lambda by serverless-http: what users deploy behind API Gateway.
const express = require("express");
const serverless = require("serverless-http");

const app = express();
app.get("/hello/:name", (req, res) => {
  res.set("x-app", "express").cookie("seen", "1").cookie("lang", "en");
  res.json({ hello: req.params.name, query: req.query, path: req.path, method: req.method });
});
app.post("/echo", express.text({ type: "*/*" }), (req, res) => {
  res.type("text/plain").send(`echo:${req.body}`);
});
app.use((req, res) => res.status(404).json({ missing: req.path }));

module.exports.handler = serverless(app);
