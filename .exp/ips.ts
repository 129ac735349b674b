import { loadNative } from '../src/enforce/native.ts';
const n = loadNative();
const fd = n.ipsetOpen();
const e = new Int32Array(20);
e.set([0x0a000001, 0, 0, 0, 0x0a000002, 0, 0, 0, 6, 80]);
e.set([0xfd000000 | 0, 0, 0, 0x31, 0xfd000000 | 0, 0, 0, 0x12, 17, 53], 10);
console.log('add4 errors', n.ipsetAdd(fd, 'T4', 4, e, 1, 30));
console.log('add6 errors', n.ipsetAdd(fd, 'T6', 6, e.subarray(10), 1, 30));
console.log('add missing-set errors', n.ipsetAdd(fd, 'NOPE', 4, e, 1, 30), n.ipsetAdd(fd, 'T4', 4, e, 0, 30));
if (process.argv[2] === 'flush') { n.ipsetFlush(fd, 'T4'); console.log('flushed'); }
try { n.ipsetFlush(fd, 'NOPE'); } catch (err) { console.log('flush missing:', (err as Error).message); }
