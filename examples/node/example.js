// blockstore from Node with the installable SDK (make sdk; npm install ./build/packages/blockstore-sdk-*.tgz):
// upload, download (whole and as a stream), a typed error, the change feed.
//   BLOCKSTORE_ADDRESS=127.0.0.1:7000 BLOCKSTORE_TOKEN_FILE=.cluster/user.token node example.js [PREFIX]
// Prints one line per step and "ok" when every step did what it should.
const { randomBytes } = require('node:crypto');
const { BlockstoreClient, BlockstoreError } = require('@blockstore/sdk');

async function main() {
  const prefix = process.argv[2] || 'node-example/';
  const client = BlockstoreClient.fromEnv();
  try {
    const data = randomBytes(1_500_000);
    let sent = 0;
    const put = await client.put(`${prefix}hello.bin`, data, { onProgress: (n) => (sent = n) });
    console.log(`put ${put.file.path} version ${put.file.version}, ${put.file.size} bytes (progress reached ${sent})`);

    const back = await client.get(`${prefix}hello.bin`);
    if (!back.equals(data)) throw new Error('the downloaded bytes differ');
    const { stream } = await client.downloadStream(`${prefix}hello.bin`);
    let streamed = 0;
    for await (const piece of stream) streamed += piece.length;
    console.log(`get: the same ${back.length} bytes; as a stream ${streamed}`);

    try {
      await client.stat(`${prefix}no-such-file`);
      throw new Error('stat of a missing file succeeded');
    } catch (err) {
      if (!(err instanceof BlockstoreError) || err.code !== 'NOT_FOUND') throw err;
      console.log(`stat ${prefix}no-such-file: ${err.code} (retryable: ${err.retryable})`);
    }

    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 30_000);
    let seen = false;
    for await (const ev of client.watch(prefix, 0, ac.signal)) {
      console.log(`watch: ${ev.kind} ${ev.path} v${ev.version}`);
      if (ev.path === `${prefix}hello.bin`) {
        seen = true;
        break;
      }
    }
    clearTimeout(timer);
    if (!seen) throw new Error('the upload never arrived on the feed');
    console.log('ok');
  } finally {
    client.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
