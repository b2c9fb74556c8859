// The very app lambdabox deploys in the benchmark (tests/apps/express-http, with its node_modules).
module.exports = require("../../../tests/apps/express-http/app.js");
