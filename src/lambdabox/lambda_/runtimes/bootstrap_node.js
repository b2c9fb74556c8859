/**
 * lambdabox's Node.js runtime client.
 *
 * One job: run one function's handler inside an execution environment, speaking the AWS Lambda
 * Runtime API (2018-06-01) to lambdabox with the observable behaviour of AWS's managed Node.js
 * runtime: handler loading (CommonJS and ES modules), the context object, callback and
 * callbackWaitsForEmptyEventLoop semantics, console patching, and the shapes of init and invoke
 * errors. Node.js standard library only; CommonJS so that it starts fast; ES module handlers are
 * loaded with dynamic import().
 *
 * Started as `node bootstrap_node.js` with the code directory as cwd and the environment AWS
 * gives a function (_HANDLER, LAMBDA_TASK_ROOT, AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_*,
 * NODE_PATH, ...). `require()` finds the AWS SDK the runtime carries through NODE_PATH; ES module
 * handlers get NODE_PATH's node_modules folders from the resolve hook next to this file.
 */

'use strict';

const net = require('net');
const util = require('util');
const path = require('path');
const fs = require('fs');

const env = process.env;
const API_PREFIX = '/2018-06-01/runtime';
const NEXT_PATH = API_PREFIX + '/invocation/next';
const INIT_ERROR_PATH = API_PREFIX + '/init/error';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const EXIT_UNCAUGHT = 129;
const EXIT_UNHANDLED_REJECTION = 128;

// ---------------------------------------------------------------------------------------------
// Errors: the Runtime.* types AWS reports, and the wire/log shapes of any thrown value.
// ---------------------------------------------------------------------------------------------

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class MalformedStreamingHandler extends Error {}
class InvalidStreamingOperation extends Error {}
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly ' +
        'caused by a Promise that was never settled. For more information, see ' +
        'https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
for (const cls of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  MalformedStreamingHandler,
  InvalidStreamingOperation,
  NodeJsExit,
  UnhandledPromiseRejection,
]) {
  cls.prototype.name = 'Runtime.' + cls.name;
}

function looksLikeError(obj) {
  return Boolean(
    obj &&
      obj.name &&
      obj.message &&
      obj.stack &&
      typeof obj.name === 'string' &&
      typeof obj.message === 'string' &&
      typeof obj.stack === 'string',
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

/** The body posted to the Runtime API (and returned to the invoker) for a thrown value. */
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: error.name?.replaceAll('\x7F', '%7F'),
        errorMessage: error.message?.replaceAll('\x7F', '%7F'),
        trace: error.stack.replaceAll('\x7F', '%7F').split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_err) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or ' +
        'more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(value) {
  if (!(value instanceof Error)) {
    return value;
  }
  const out = Object.assign(
    { errorType: value.name, errorMessage: value.message, code: value.code },
    value,
  );
  if (typeof value.stack === 'string') {
    out.stack = value.stack.split('\n');
  }
  return out;
}

/** The JSON text AWS appends (after a tab) to "Invoke Error" / "Uncaught Exception" log lines. */
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_key, value) => withEnumerableProperties(value));
  } catch (_err) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// ---------------------------------------------------------------------------------------------
// Logging: console.* writes one record per call to stdout, as AWS's runtime does.
// ---------------------------------------------------------------------------------------------

let currentRequestId; // undefined until the first invoke, then the latest request id (as AWS)
let stdout; // process.stdout, resolved once at start-up
let stderr;

const LEVELS = {
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
};

function logText(level, message, params) {
  // One console call is one log event: its inner line breaks travel as \r (as AWS's client does
  // on stdout); lambdabox turns them back into line breaks inside the event.
  const text = params.length === 0 && typeof message === 'string' ? message : util.format(message, ...params);
  stdout.write(
    new Date().toISOString() + '\t' + currentRequestId + '\t' + level.name + '\t' + text.replace(/\n/g, '\r') + '\n',
  );
}

function jsonErrorReplacer(_key, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function logJson(level, message, params) {
  const record = {
    timestamp: new Date().toISOString(),
    level: level.name,
    requestId: currentRequestId,
  };
  let line;
  if (params.length === 0) {
    record.message = message;
    try {
      line = JSON.stringify(record, jsonErrorReplacer);
    } catch (_err) {
      record.message = util.format(message);
      line = JSON.stringify(record);
    }
  } else {
    record.message = util.format(message, ...params);
    for (const param of [message, ...params]) {
      if (param instanceof Error) {
        record.errorType = param?.constructor?.name ?? 'UnknownError';
        record.errorMessage = param.message;
        record.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
        break;
      }
    }
    line = JSON.stringify(record);
  }
  stdout.write(line + '\n');
}

let logError; // (label, err): the "Invoke Error" / "Uncaught Exception" line, text or JSON

function patchConsole() {
  const json = (env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  const write = json ? logJson : logText;
  const threshold = LEVELS[(env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || LEVELS.TRACE;
  const nop = () => {};
  const make = (level) =>
    level.priority >= threshold.priority ? (message, ...params) => write(level, message, params) : nop;
  console.trace = make(LEVELS.TRACE);
  console.debug = make(LEVELS.DEBUG);
  console.info = make(LEVELS.INFO);
  console.log = console.info;
  console.warn = make(LEVELS.WARN);
  console.error = make(LEVELS.ERROR);
  console.fatal = (message, ...params) => write(LEVELS.FATAL, message, params);
  // console.error is looked up at call time, as AWS does, so a user's replacement sees these too.
  logError = json
    ? (_label, err) => console.error(intoError(err))
    : (label, err) => console.error(label, toFormatted(intoError(err)));
}

/**
 * Run fn once everything already written to stdout/stderr is in the pipe (not queued inside
 * Node), so that lambdabox reads a request's log lines before it sees the request's result.
 */
function afterStdioFlushed(fn) {
  // Hot path: both empty. Otherwise an empty write's callback fires once every earlier write
  // has left Node (writes complete in order), then check again.
  if (stdout.writableLength > 0 && !stdout.destroyed) {
    stdout.write('', () => afterStdioFlushed(fn));
  } else if (stderr.writableLength > 0 && !stderr.destroyed) {
    stderr.write('', () => afterStdioFlushed(fn));
  } else {
    fn();
  }
}

// ---------------------------------------------------------------------------------------------
// Runtime API client. The hot path (GET /next, POST response and error) is a minimal HTTP/1.1
// exchange on one persistent connection, one request at a time; the rare paths (init error,
// fatal errors, response streaming) use Node's `http`.
// ---------------------------------------------------------------------------------------------

function parseHostPort(value) {
  const text = value || '';
  const colon = text.lastIndexOf(':');
  let host = colon >= 0 ? text.slice(0, colon) : text;
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
  }
  return { host: host || '127.0.0.1', port: colon >= 0 ? Number(text.slice(colon + 1)) : 80 };
}

const { host: API_HOST, port: API_PORT } = parseHostPort(env.AWS_LAMBDA_RUNTIME_API);
const HOST_LINE = 'Host: ' + (API_HOST.includes(':') ? `[${API_HOST}]` : API_HOST) + ':' + API_PORT + '\r\n';
const JSON_CONTENT_TYPE = 'application/json';
const JSON_CONTENT_TYPE_LINE = 'Content-Type: ' + JSON_CONTENT_TYPE + '\r\n';
const MAX_HEAD_BYTES = 64 * 1024;

let httpModule; // Node's http, loaded on first use (only the rare paths need it)
let streamAgent; // keep-alive Agent for streamed responses

function http() {
  if (httpModule === undefined) {
    httpModule = require('http');
  }
  return httpModule;
}

function httpAgent() {
  if (streamAgent === undefined) {
    streamAgent = new (http().Agent)({ keepAlive: true, maxSockets: 1 });
  }
  return streamAgent;
}

/**
 * One HTTP exchange with the Runtime API on a fresh connection, through Node's http.
 * done(err, statusCode, headers, bodyText).
 */
function httpRequest(method, urlPath, headers, body, done) {
  let settled = false;
  const settle = (err, status, resHeaders, text) => {
    if (!settled) {
      settled = true;
      done(err, status, resHeaders, text);
    }
  };
  const req = http().request({
    host: API_HOST,
    port: API_PORT,
    method,
    path: urlPath,
    headers,
    agent: false,
  });
  req.on('response', (res) => {
    const chunks = [];
    res.on('data', (chunk) => chunks.push(chunk));
    res.on('end', () => settle(null, res.statusCode, res.headers, Buffer.concat(chunks).toString('utf8')));
    res.on('error', (err) => settle(err));
  });
  req.on('error', (err) => settle(err));
  req.end(body);
}

// The persistent connection. It is ref'd only while an exchange is in flight, so that an idle
// connection does not keep the event loop alive (callbackWaitsForEmptyEventLoop relies on it).
let apiSocket = null; // the net.Socket, or null when there is none (the next exchange connects)
let apiSocketReused = false; // it has carried a complete exchange (so the server may close it)
let inFlight = null; // the exchange awaiting its response: { wire, done, reused, retried }
const waiting = []; // exchanges queued behind inFlight (not expected on the hot path)

// Response parser state, for inFlight.
let rxStarted = false; // any response bytes arrived
let rxPending = null; // Buffer: head bytes before the blank line, or undecoded chunked framing
let rxStatus = 0;
let rxHeaders = null; // null until the head is complete; then lower-cased names, as Node's
let rxKeepAlive = true;
let rxLength = -1; // body bytes still to come; -1: until the server closes
let rxChunked = false;
let rxChunkLeft = 0; // chunked: data bytes left in this chunk; -1: expecting the CRLF after it
let rxBody = [];

function protocolError(message) {
  const err = new Error('Runtime API protocol error: ' + message);
  err.code = 'EPROTO';
  return err;
}

/**
 * One HTTP/1.1 exchange on the persistent connection. headerLines: extra "Name: value\r\n"
 * lines; body: a string or undefined. done(err, statusCode, headers, bodyText).
 */
function apiExchange(method, urlPath, headerLines, body, done) {
  let wire = method + ' ' + urlPath + ' HTTP/1.1\r\n' + HOST_LINE + headerLines;
  wire += body === undefined ? '\r\n' : 'Content-Length: ' + Buffer.byteLength(body) + '\r\n\r\n' + body;
  const exchange = { wire, done, reused: false, retried: false };
  if (inFlight === null) {
    startExchange(exchange);
  } else {
    waiting.push(exchange);
  }
}

function startExchange(exchange) {
  inFlight = exchange;
  rxStarted = false;
  rxPending = null;
  rxHeaders = null;
  rxBody = [];
  if (apiSocket === null) {
    openApiSocket();
  } else {
    apiSocket.ref();
  }
  exchange.reused = apiSocketReused;
  apiSocket.write(exchange.wire); // one buffer, one write (utf8; the head is ASCII)
}

function openApiSocket() {
  const socket = new net.Socket();
  apiSocket = socket;
  apiSocketReused = false;
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    if (socket === apiSocket) {
      onApiData(chunk);
    }
  });
  socket.on('error', (err) => onApiSocketGone(socket, err));
  socket.on('close', () => onApiSocketGone(socket, null));
  socket.connect(API_PORT, API_HOST);
}

/** The connection failed or closed: end (or retry) the exchange in flight, if any. */
function onApiSocketGone(socket, err) {
  if (socket !== apiSocket) {
    return;
  }
  apiSocket = null;
  socket.destroy();
  const exchange = inFlight;
  if (exchange === null) {
    return; // closed while idle: the next exchange reconnects
  }
  if (rxHeaders !== null && rxLength === -1 && !rxChunked && err === null) {
    finishExchange(); // a body delimited by the end of the connection
    return;
  }
  inFlight = null;
  if (!rxStarted && exchange.reused && !exchange.retried) {
    // The server closed the keep-alive connection as this request went out: retry once.
    exchange.retried = true;
    startExchange(exchange);
    return;
  }
  const failure = err || Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  startWaiting();
  exchange.done(failure);
}

function failApiSocket(err) {
  const socket = apiSocket;
  onApiSocketGone(socket, err);
}

function onApiData(chunk) {
  if (inFlight === null) {
    failApiSocket(protocolError('unexpected data'));
    return;
  }
  rxStarted = true;
  let data = chunk;
  if (rxHeaders === null) {
    if (rxPending !== null) {
      data = Buffer.concat([rxPending, data]);
      rxPending = null;
    }
    const end = data.indexOf('\r\n\r\n');
    if (end < 0) {
      if (data.length > MAX_HEAD_BYTES) {
        failApiSocket(protocolError('response head too large'));
      } else {
        rxPending = data;
      }
      return;
    }
    const problem = parseHead(data.latin1Slice(0, end));
    if (problem !== null) {
      failApiSocket(protocolError(problem));
      return;
    }
    data = data.subarray(end + 4);
  }
  if (rxChunked) {
    onChunkedData(data);
  } else if (rxLength < 0) {
    if (data.length > 0) {
      rxBody.push(data);
    }
  } else {
    if (data.length > rxLength) {
      failApiSocket(protocolError('more data than Content-Length'));
      return;
    }
    if (data.length > 0) {
      rxBody.push(data);
      rxLength -= data.length;
    }
    if (rxLength === 0) {
      finishExchange();
    }
  }
}

/** Parse the status line and headers; returns null, or what is wrong. */
function parseHead(text) {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]);
  if (status === null) {
    return 'bad status line';
  }
  const headers = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) {
      return 'bad header line';
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prior = headers[name];
    if (prior === undefined) {
      headers[name] = value;
    } else if (name !== 'content-length' && name !== 'content-type') {
      headers[name] = prior + ', ' + value; // as Node joins repeated headers
    }
  }
  rxStatus = Number(status[2]);
  rxHeaders = headers;
  const connection = (headers.connection || '').toLowerCase();
  rxKeepAlive = status[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
  rxChunked = false;
  rxChunkLeft = 0;
  if (rxStatus === 204 || rxStatus === 304 || rxStatus < 200) {
    rxLength = 0;
  } else if ((headers['transfer-encoding'] || '').toLowerCase().includes('chunked')) {
    rxChunked = true;
  } else if (headers['content-length'] !== undefined) {
    if (!/^\d+$/.test(headers['content-length'])) {
      return 'bad Content-Length';
    }
    rxLength = Number(headers['content-length']);
  } else {
    rxLength = -1;
    rxKeepAlive = false;
  }
  return null;
}

/** Decode chunked framing from data (plus any undecoded bytes kept from before). */
function onChunkedData(chunk) {
  let data = rxPending === null ? chunk : Buffer.concat([rxPending, chunk]);
  rxPending = null;
  for (;;) {
    if (rxChunkLeft > 0) {
      const take = Math.min(rxChunkLeft, data.length);
      if (take > 0) {
        rxBody.push(data.subarray(0, take));
        data = data.subarray(take);
        rxChunkLeft -= take;
      }
      if (rxChunkLeft > 0) {
        return;
      }
      rxChunkLeft = -1;
    }
    if (rxChunkLeft === -1) {
      if (data.length < 2) {
        rxPending = data.length > 0 ? data : null;
        return;
      }
      if (data[0] !== 0x0d || data[1] !== 0x0a) {
        failApiSocket(protocolError('bad chunk terminator'));
        return;
      }
      data = data.subarray(2);
      rxChunkLeft = 0;
    }
    const eol = data.indexOf('\r\n');
    if (eol < 0) {
      rxPending = data.length > 0 ? data : null;
      return;
    }
    const sizeText = data.latin1Slice(0, eol).split(';')[0].trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) {
      failApiSocket(protocolError('bad chunk size'));
      return;
    }
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      // Last chunk: the trailer section ends with an empty line.
      const rest = data.subarray(eol + 2);
      if (rest.length >= 2 && rest[0] === 0x0d && rest[1] === 0x0a) {
        finishExchange();
      } else if (rest.indexOf('\r\n\r\n') >= 0) {
        finishExchange();
      } else {
        rxPending = data; // wait for the rest of the trailers
      }
      return;
    }
    data = data.subarray(eol + 2);
    rxChunkLeft = size;
  }
}

function finishExchange() {
  const exchange = inFlight;
  const status = rxStatus;
  const headers = rxHeaders;
  const text =
    rxBody.length === 0
      ? ''
      : rxBody.length === 1
        ? rxBody[0].toString('utf8')
        : Buffer.concat(rxBody).toString('utf8');
  inFlight = null;
  rxBody = [];
  rxPending = null;
  rxHeaders = null;
  if (apiSocket !== null) {
    if (rxKeepAlive) {
      apiSocketReused = true;
    } else {
      const socket = apiSocket;
      apiSocket = null;
      socket.destroy();
    }
  }
  startWaiting();
  exchange.done(null, status, headers, text);
  // Idle now (unless done started the next exchange): let the event loop empty.
  if (inFlight === null && apiSocket !== null) {
    apiSocket.unref();
  }
}

function startWaiting() {
  if (inFlight === null && waiting.length > 0) {
    startExchange(waiting.shift());
  }
}

function postJson(urlPath, bodyText, errorType, done) {
  const headerLines =
    errorType === undefined
      ? JSON_CONTENT_TYPE_LINE
      : JSON_CONTENT_TYPE_LINE + ERROR_TYPE_HEADER + ': ' + errorType + '\r\n';
  afterStdioFlushed(() => apiExchange('POST', urlPath, headerLines, bodyText, done));
}

/** POST on a fresh connection through Node's http (for paths where the hot one may be busy). */
function postJsonFresh(urlPath, bodyText, errorType, done) {
  const headers = {
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(bodyText),
    [ERROR_TYPE_HEADER]: errorType,
  };
  afterStdioFlushed(() => httpRequest('POST', urlPath, headers, bodyText, done));
}

/** A header value Node accepts: printable ASCII only. */
function headerSafe(value) {
  return String(value).replace(/[^\x20-\x7e]/g, '');
}

function serializeResponse(result) {
  let text;
  try {
    text = JSON.stringify(result === undefined ? null : result);
  } catch (_err) {
    throw new Error('Unable to stringify response body');
  }
  return text === undefined ? 'null' : text;
}

function invocationPath(id, what) {
  return API_PREFIX + '/invocation/' + encodeURIComponent(id) + '/' + what;
}

/** Post a handler result; throws synchronously (as AWS) when the result cannot be serialized. */
function postInvocationResponse(result, id, then) {
  const body = serializeResponse(result);
  postJson(invocationPath(id, 'response'), body, undefined, (err) => {
    if (err) {
      transportFailure(err);
      return;
    }
    then();
  });
}

function postInvocationError(error, id, then) {
  const response = toRapidResponse(error);
  postJson(
    invocationPath(id, 'error'),
    JSON.stringify(response),
    headerSafe(response.errorType),
    (err) => {
      if (err) {
        transportFailure(err);
        return;
      }
      then();
    },
  );
}

/**
 * Post an error on a fresh connection (the persistent one may be busy with a long-polling
 * /next); a failure to post does not matter, the caller exits either way.
 */
function postFatalError(error, urlPath, then) {
  const response = toRapidResponse(error);
  postJsonFresh(urlPath, JSON.stringify(response), headerSafe(response.errorType), () => then());
}

function postInitError(error, then) {
  // An unhandled rejection from module code may surface only after start-up has moved on.
  postFatalError(error, INIT_ERROR_PATH, then);
}

/** The Runtime API went away or misbehaved: nothing sensible is left to do but exit. */
function transportFailure(err) {
  try {
    stderr.write('lambdabox runtime: Runtime API request failed: ' + String(err) + '\n');
  } finally {
    process.exit(1);
  }
}

// ---------------------------------------------------------------------------------------------
// Loading the handler, as AWS resolves `_HANDLER` against LAMBDA_TASK_ROOT.
// ---------------------------------------------------------------------------------------------

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

function tryRequireFile(file) {
  return fs.existsSync(file) ? require(file) : undefined;
}

async function tryImportFile(file) {
  if (!fs.existsSync(file)) {
    return undefined;
  }
  registerNodePathHook();
  return import(require('url').pathToFileURL(file).href);
}

let nodePathHookRegistered = false;

/**
 * ES modules ignore NODE_PATH: give them its node_modules folders (the AWS SDK the runtime carries,
 * layers) through a resolve hook that is consulted only when the default resolution fails. Registered
 * just before an ES module handler is imported, and only when such a folder exists: the hooks run on
 * a thread of their own, which CommonJS handlers never pay for.
 */
function registerNodePathHook() {
  if (nodePathHookRegistered) {
    return;
  }
  nodePathHookRegistered = true;
  const reachable = ancestorNodeModules(env.LAMBDA_TASK_ROOT || process.cwd());
  const dirs = (env.NODE_PATH || '')
    .split(path.delimiter)
    .filter((dir) => path.isAbsolute(dir) && path.basename(dir) === 'node_modules' && fs.existsSync(dir))
    .filter((dir) => !reachable.has(fs.realpathSync(dir)));
  const Module = require('module');
  if (dirs.length === 0 || typeof Module.register !== 'function') {
    return;
  }
  const hooks = path.join(__dirname, '_lambdabox_rt_node_resolve.mjs');
  Module.register(require('url').pathToFileURL(hooks).href, { data: { dirs } });
}

/**
 * The node_modules folders ES module resolution already walks to from above the task root (in an
 * environment with a root of its own the runtime's SDK is linked at /var/node_modules, so the
 * hook, and its thread, are not needed for it).
 */
function ancestorNodeModules(taskRoot) {
  const found = new Set();
  for (let dir = path.dirname(taskRoot); ; dir = path.dirname(dir)) {
    try {
      found.add(fs.realpathSync(path.join(dir, 'node_modules')));
    } catch {
      // no node_modules here
    }
    if (dir === path.dirname(dir)) {
      return found;
    }
  }
}

/** true when the nearest package.json above folder says "type": "module" (AWS's rule). */
function packageTypeIsModule(folder) {
  if (folder.endsWith('/node_modules')) {
    return false;
  }
  const pj = path.join(folder, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
      if (pkg) {
        return pkg.type === 'module';
      }
    } catch (err) {
      console.warn(
        `${pj} cannot be read, it will be ignored for ES module detection purposes.`,
        err,
      );
      return false;
    }
  }
  const parent = path.resolve(folder, '..');
  return parent === folder ? false : packageTypeIsModule(parent);
}

async function requireUserModule(appRoot, moduleRoot, moduleName) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, moduleName);
  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) {
    return extensionless;
  }
  const isModule = packageTypeIsModule(path.dirname(lambdaStylePath));
  if (!isModule) {
    const loaded = tryRequireFile(lambdaStylePath + '.js');
    if (loaded) {
      return loaded;
    }
  }
  const loaded =
    (isModule && (await tryImportFile(lambdaStylePath + '.js'))) ||
    (await tryImportFile(lambdaStylePath + '.mjs')) ||
    tryRequireFile(lambdaStylePath + '.cjs');
  if (loaded) {
    return loaded;
  }
  // Fall back to Node's own resolution (node_modules, NODE_PATH) from the task root.
  return require(require.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

async function loadUserModule(appRoot, moduleRoot, moduleName) {
  if (env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA !== '1' && env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA !== 'true') {
    globalThis.awslambda = {
      streamifyResponse(handlerFn, options) {
        handlerFn[HANDLER_STREAMING] = STREAM_RESPONSE;
        if (typeof options?.highWaterMark === 'number') {
          handlerFn[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark, 10);
        }
        return handlerFn;
      },
      HttpResponseStream,
    };
  }
  try {
    return await requireUserModule(appRoot, moduleRoot, moduleName);
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new UserCodeSyntaxError(err);
    }
    if (err && err.code === 'MODULE_NOT_FOUND') {
      throw new ImportModuleError(err);
    }
    throw err;
  }
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const moduleAndHandler = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(moduleAndHandler));
  const match = moduleAndHandler.match(/^([^.]*)\.(.*)$/);
  if (!match) {
    throw new MalformedHandlerName('Bad handler');
  }
  const userModule = await loadUserModule(appRoot, moduleRoot, match[1]);
  const fn = match[2].split('.').reduce((obj, key) => obj && obj[key], userModule);
  if (!fn) {
    throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  }
  if (typeof fn !== 'function') {
    throw new HandlerNotFound(`${fullHandler} is not a function`);
  }
  return fn;
}

function streamingMode(fn) {
  const mode = fn[HANDLER_STREAMING];
  if (mode === undefined || mode === null || mode === false) {
    return false;
  }
  if (mode === STREAM_RESPONSE) {
    return STREAM_RESPONSE;
  }
  throw new MalformedStreamingHandler('Only response streaming is supported.');
}

// ---------------------------------------------------------------------------------------------
// Response streaming (awslambda.streamifyResponse): the response body is a chunked POST.
// ---------------------------------------------------------------------------------------------

const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

/** A writable response stream for one streaming invoke, plus how to fail it and await it. */
function createResponseStream(id, highWaterMark) {
  let firstWriteDone = false;
  let settle;
  const responseDone = new Promise((resolve) => {
    settle = resolve;
  });
  const req = http().request({
    host: API_HOST,
    port: API_PORT,
    method: 'POST',
    path: invocationPath(id, 'response'),
    agent: httpAgent(),
    highWaterMark,
    headers: {
      'Lambda-Runtime-Function-Response-Mode': 'streaming',
      'Transfer-Encoding': 'chunked',
      Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
      'Content-Type': 'application/octet-stream',
    },
  });
  req.on('response', (res) => {
    res.resume();
    res.on('end', () => settle());
    res.on('error', () => settle());
  });
  // A broken stream (destroyed by the handler, or the connection lost) ends this invoke; if the
  // Runtime API itself is gone, the next /next fails and the runtime exits there.
  req.on('error', () => settle());
  const origWrite = req.write.bind(req);
  req.setContentType = (contentType) => {
    if (firstWriteDone) {
      throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    }
    req.setHeader('Content-Type', contentType);
  };
  req.write = (chunk, encoding, callback) => {
    let data = chunk;
    if (typeof data !== 'string' && !Buffer.isBuffer(data) && data?.constructor !== Uint8Array) {
      data = JSON.stringify(data);
    }
    if (!firstWriteDone && typeof req._onBeforeFirstWrite === 'function') {
      req._onBeforeFirstWrite((early) => origWrite(early));
    }
    firstWriteDone = true;
    return origWrite(data, encoding, callback);
  };
  const fail = (error, then) => {
    const response = toRapidResponse(error);
    if (!req.writableEnded && !req.destroyed) {
      req.addTrailers({
        'Lambda-Runtime-Function-Error-Type': headerSafe(response.errorType),
        'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(response)).toString('base64'),
      });
      req.end();
    }
    responseDone.then(then);
  };
  return { stream: req, responseDone, fail };
}

// ---------------------------------------------------------------------------------------------
// The invoke loop.
// ---------------------------------------------------------------------------------------------

let handler;
let handlerIsAsync = false;
let handlerStreaming = false;
let handlerHighWaterMark;
let dying = false;

// The single 'beforeExit' action: runs when the event loop has nothing left (AWS's mechanism for
// callbackWaitsForEmptyEventLoop). Idle keep-alive sockets are unref'd, so they do not count.
const NOOP = () => {};
let onLoopEmpty = NOOP;

// Replaced per invoke; during init they report to /init/error.
let onUncaughtException = (err) => reportInitFatal(err, EXIT_UNCAUGHT);
let onUnhandledRejection = (err) => reportInitFatal(err, EXIT_UNHANDLED_REJECTION);

function reportInitFatal(err, code) {
  if (dying) {
    return;
  }
  dying = true;
  postInitError(err, () => process.exit(code));
}

let functionName;
let functionVersion;
let memoryLimitInMB;
let logGroupName;
let logStreamName;

function parseJsonHeader(value, name) {
  if (value === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function scheduleNext() {
  nextInvocation();
}

function nextInvocation() {
  apiExchange('GET', NEXT_PATH, '', undefined, (err, status, headers, body) => {
    if (err) {
      transportFailure(err);
      return;
    }
    if (status !== 200) {
      transportFailure(new Error(`GET ${NEXT_PATH} returned HTTP ${status}: ${body}`));
      return;
    }
    if (dying) {
      return;
    }
    if (handlerStreaming) {
      invokeStreaming(headers, body);
    } else {
      invoke(headers, body);
    }
  });
}

function beginInvoke(headers) {
  const id = headers['lambda-runtime-aws-request-id'];
  currentRequestId = id;
  globalThis[REQUEST_ID_SYMBOL] = id;
  const trace = headers['lambda-runtime-trace-id'];
  if (trace) {
    env._X_AMZN_TRACE_ID = trace;
  } else {
    delete env._X_AMZN_TRACE_ID;
  }
  onUncaughtException = (err) => reportFatal(err, id, EXIT_UNCAUGHT);
  onUnhandledRejection = (err) => reportFatal(err, id, EXIT_UNHANDLED_REJECTION);
  return id;
}

/** Fill the user-facing context: environment data, then header data (AWS's key order). */
function attachInvokeData(context, headers, id) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  context.functionVersion = functionVersion;
  context.functionName = functionName;
  context.memoryLimitInMB = memoryLimitInMB;
  context.logGroupName = logGroupName;
  context.logStreamName = logStreamName;
  context.clientContext = parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext');
  context.identity = parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity');
  context.invokedFunctionArn = headers['lambda-runtime-invoked-function-arn'];
  context.awsRequestId = id;
  context.tenantId = headers['lambda-runtime-aws-tenant-id'];
  context.getRemainingTimeInMillis = () => deadline - Date.now();
  return context;
}

function invoke(headers, body) {
  const id = beginInvoke(headers);

  let waitForEmptyEventLoop = true;
  let completeInvoked = false;
  let finished = false; // only the first of callback/done/succeed/fail counts

  const postError = (err) => {
    logError('Invoke Error', err);
    postInvocationError(err, id, scheduleNext);
  };
  const complete = (result) => {
    if (completeInvoked) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    completeInvoked = true;
    postInvocationResponse(result, id, scheduleNext);
  };
  const rawCallback = (err, result) => {
    onLoopEmpty = NOOP;
    if (err !== undefined && err !== null) {
      postError(err);
    } else if (!waitForEmptyEventLoop) {
      complete(result);
    } else {
      onLoopEmpty = () => {
        onLoopEmpty = NOOP;
        setImmediate(() => complete(result));
      };
    }
  };
  const rawDone = (err, result) => {
    onLoopEmpty = NOOP;
    if (err !== undefined && err !== null) {
      postError(err);
    } else {
      complete(result);
    }
  };
  const firstCallOnly =
    (fn) =>
    (...args) => {
      if (!finished) {
        fn(...args);
        finished = true;
      }
    };
  const callback = firstCallOnly(rawCallback);
  const done = firstCallOnly(rawDone);
  const succeed = firstCallOnly((result) => rawDone(null, result));
  const fail = firstCallOnly((err) => {
    if (err === undefined || err === null) {
      rawDone('handled');
    } else {
      rawDone(err, null);
    }
  });

  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed,
    fail,
    done,
  };

  // If the loop empties before the handler reports: async handlers failed to settle their
  // promise (Runtime.NodeJsExit); other handlers answer null, as on AWS.
  onLoopEmpty = () => {
    onLoopEmpty = NOOP;
    completeInvoked = true;
    if (handlerIsAsync) {
      const error = new NodeJsExit();
      logError('Invoke Error', error);
      postInvocationError(error, id, scheduleNext);
    } else {
      postInvocationResponse(null, id, scheduleNext);
    }
  };

  try {
    const result = handler(JSON.parse(body), attachInvokeData(context, headers, id), callback);
    if (result && typeof result.then === 'function') {
      result.then(succeed, fail).catch(fail);
    }
  } catch (err) {
    callback(err);
  }
}

function invokeStreaming(headers, body) {
  const id = beginInvoke(headers);
  let waitForEmptyEventLoop = true;
  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
  };
  const { stream, responseDone, fail } = createResponseStream(id, handlerHighWaterMark);
  const next = () => {
    onLoopEmpty = NOOP;
    if (!waitForEmptyEventLoop) {
      scheduleNext();
    } else {
      onLoopEmpty = () => {
        onLoopEmpty = NOOP;
        setImmediate(scheduleNext);
      };
    }
  };
  const failWith = (err) => {
    logError('Invoke Error', err);
    fail(err, next);
  };
  onLoopEmpty = () => {
    onLoopEmpty = NOOP;
    scheduleNext();
  };
  (async () => {
    try {
      const result = handler(JSON.parse(body), stream, attachInvokeData(context, headers, id));
      if (!(result && typeof result.then === 'function')) {
        failWith('Streaming does not support non-async handlers.');
        return;
      }
      const value = await result;
      if (value !== undefined) {
        console.warn('Streaming handlers ignore return values.');
      }
      await responseDone;
      if (!stream.writableFinished) {
        failWith('Response stream is not finished.');
        return;
      }
      next();
    } catch (err) {
      failWith(err);
    }
  })();
}

/** An uncaught exception or unhandled rejection during an invoke: report it, then exit. */
function reportFatal(err, id, code) {
  if (dying) {
    return;
  }
  dying = true;
  postFatalError(err, invocationPath(id, 'error'), () => process.exit(code));
}

// ---------------------------------------------------------------------------------------------
// Start-up.
// ---------------------------------------------------------------------------------------------

async function main() {
  stdout = process.stdout;
  stderr = process.stderr;
  patchConsole();
  functionName = env.AWS_LAMBDA_FUNCTION_NAME;
  functionVersion = env.AWS_LAMBDA_FUNCTION_VERSION;
  memoryLimitInMB = env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
  logGroupName = env.AWS_LAMBDA_LOG_GROUP_NAME;
  logStreamName = env.AWS_LAMBDA_LOG_STREAM_NAME;

  process.on('uncaughtException', (err) => {
    logError('Uncaught Exception', err);
    onUncaughtException(err);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const err = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', err);
    onUnhandledRejection(err);
  });
  process.on('beforeExit', () => onLoopEmpty());

  try {
    handler = await loadHandler(env.LAMBDA_TASK_ROOT || process.cwd(), env._HANDLER || '');
    handlerStreaming = streamingMode(handler);
  } catch (err) {
    logError('Uncaught Exception', err);
    reportInitFatal(err, EXIT_UNCAUGHT);
    return;
  }
  handlerIsAsync = handler.constructor?.name === 'AsyncFunction';
  const hwm = parseInt(handler[HANDLER_HIGHWATERMARK], 10);
  handlerHighWaterMark = Number.isNaN(hwm) ? undefined : hwm;
  nextInvocation();
}

main();
