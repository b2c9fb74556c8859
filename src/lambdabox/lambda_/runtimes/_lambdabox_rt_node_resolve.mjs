/**
 * lambdabox's Node.js runtime client: the module resolve hook that gives ES modules NODE_PATH.
 *
 * `import` does not read NODE_PATH (only `require()` does), so an ES module handler could not import
 * the AWS SDK the runtime carries in a NODE_PATH directory (as Lambda's /var/runtime/node_modules).
 * bootstrap_node.js registers this hook (module.register) before it imports an ES module handler,
 * with the NODE_PATH directories that are node_modules folders. Only when the default resolution of a
 * bare specifier fails with ERR_MODULE_NOT_FOUND is it retried from each of those directories, in
 * order: the function's own node_modules always win. Node.js standard library only.
 */

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** [node_modules directory, a parent URL from which Node's own lookup finds that directory first] */
let dirs = [];

export function initialize(data) {
  dirs = (data?.dirs ?? []).map((dir) => [dir, pathToFileURL(join(dirname(dir), '/')).href]);
}

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    const first = specifier.charCodeAt(0);
    // only bare specifiers: not './x', '../x', '/x', 'node:x', 'file:...', '#imports'
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || first === 46 || first === 47 || first === 35 ||
        specifier.includes(':')) {
      throw err;
    }
    const name = packageName(specifier);
    for (const [dir, parentURL] of dirs) {
      if (existsSync(join(dir, name))) {
        return nextResolve(specifier, { ...context, parentURL });
      }
    }
    throw err;
  }
}
