// An ordinary Express 5 app, wrapped for AWS Lambda by serverless-http and served by an HTTP API.
const express = require("express");
const serverless = require("serverless-http");

const app = express();
app.use(express.json());

app.get("/hello", (req, res) => {
  res.json({ message: "Hello from Express on lambdabox", stage: process.env.STAGE });
});

app.get("/users/:id", (req, res) => {
  res.json({ id: req.params.id, query: req.query });
});

app.post("/echo", (req, res) => {
  res.status(201).json({ received: req.body, contentType: req.get("content-type") ?? null });
});

app.get("/error", () => {
  throw new Error("this route always fails");
});

// Only reached with a valid token: the HTTP API's JWT authorizer checks it before the function runs.
app.get("/private", (req, res) => {
  const claims = req.apiGateway?.event?.requestContext?.authorizer?.jwt?.claims ?? {};
  res.json({ message: "private", sub: claims.sub ?? null });
});

app.use((req, res) => res.status(404).json({ message: "Not Found", path: req.path }));

// An error escapes the function, so the invocation fails and the HTTP API answers its own 500
// ({"message":"Internal Server Error"}), as on AWS.
app.use((err, req, res, _next) => {
  res.locals.failure = err;
  res.status(500).end();
});

module.exports.handler = serverless(app, {
  request(req, event) {
    req.apiGateway = { event };
  },
  response(res) {
    if (res.locals?.failure) throw res.locals.failure;
  },
});
