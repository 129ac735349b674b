// The lab's SCTP packets (src/lab/sctp.ts), byte by byte: CRC32c as RFC 9260 appendix A defines
// it (check value of "123456789" from the CRC catalogue), stored little-endian in the common
// header, INIT with verification tag 0, INIT-ACK tagged with the peer's initiate tag and
// carrying a State Cookie, ABORT. That netfilter accepts them on the wire is checked in
// lab.test.ts (conntrack drops INVALID SCTP there).

import t from 'tap';
import { buildAbort, buildInit, buildInitAck, crc32c } from '../../src/lab/sctp.ts';

t.test('crc32c', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'Castagnoli check value');
  t.equal(crc32c(Buffer.alloc(0)), 0);
  t.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa, '32 zero bytes (RFC 3720 B.4)');
  t.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43, '32 0xff bytes (RFC 3720 B.4)');
});

function checksumOk(pkt: Buffer): boolean {
  const copy = Buffer.from(pkt);
  const stored = copy.readUInt32LE(8);
  copy.writeUInt32BE(0, 8);
  return crc32c(copy) === stored;
}

t.test('packets', async (t) => {
  const init = buildInit(40000, 81, 0x11223344);
  t.equal(init.length, 32);
  t.same([init.readUInt16BE(0), init.readUInt16BE(2), init.readUInt32BE(4)], [40000, 81, 0], 'ports, verification tag 0');
  t.same([init[12], init.readUInt16BE(14), init.readUInt32BE(16)], [1, 20, 0x11223344], 'INIT chunk, length 20, initiate tag');
  t.ok(checksumOk(init), 'INIT checksum');

  const ack = buildInitAck(81, 40000, 0x11223344, 0x55667788);
  t.same([ack.readUInt16BE(0), ack.readUInt16BE(2), ack.readUInt32BE(4)], [81, 40000, 0x11223344], 'tagged with the INIT\'s initiate tag');
  t.same([ack[12], ack.readUInt16BE(14), ack.readUInt32BE(16)], [2, 28, 0x55667788], 'INIT-ACK chunk with its own tag');
  t.same([ack.readUInt16BE(32), ack.readUInt16BE(34)], [7, 8], 'State Cookie parameter');
  t.ok(checksumOk(ack), 'INIT-ACK checksum');

  const abort = buildAbort(40000, 81, 0x55667788);
  t.same([abort.readUInt32BE(4), abort[12], abort.readUInt16BE(14)], [0x55667788, 6, 4], 'ABORT tagged with the peer\'s tag');
  t.ok(checksumOk(abort), 'ABORT checksum');
  const corrupt = Buffer.from(abort);
  corrupt[13] = 1;
  t.notOk(checksumOk(corrupt), 'a flipped bit breaks the checksum');
});
