// Copies a worker-build output dir and replaces the shim's default export (a Proxy around a
// WorkerEntrypoint class that re-creates the wasm instance after a panic) with a plain
// `{fetch}` object calling the same wasm export. Bench variant only: it drops panic recovery.
//   node bench/variants/noproxy-shim.mjs <build-dir> <out-dir>
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
const [src, out] = process.argv.slice(2);
cpSync(src, out, { recursive: true });
let s = readFileSync(`${out}/index.js`, 'utf8');
const m = s.match(/export\{(\w+) as ContainerStartupOptions,(\w+) as MinifyConfig,(\w+) as R2Range,(\w+) as default\};/);
const f = s.match(/\.prototype\.fetch=function\(t\)\{return (\w+)\.call\(this,t,this\.env,this\.ctx\)\}/)[1];
s = s.replace(m[0], `export default{fetch(t,e,n){return ${f}(t,e,n)}};export{${m[1]} as ContainerStartupOptions,${m[2]} as MinifyConfig,${m[3]} as R2Range};`);
writeFileSync(`${out}/index.js`, s);
