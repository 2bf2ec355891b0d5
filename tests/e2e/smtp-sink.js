// A minimal SMTP server for the tests: accepts every message (no TLS, no auth) and keeps
// the raw text, so a test can read the one-time codes the server mails.

import net from 'node:net';

export async function startSmtpSink() {
  const messages = [];
  const waiting = [];
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    let buffer = '';
    let inData = false;
    let data = '';
    const reply = (line) => socket.write(`${line}\r\n`);
    reply('220 sink ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            messages.push(data);
            waiting.splice(0).forEach((resolve) => resolve());
            data = '';
            reply('250 queued');
          } else {
            data += `${line.startsWith('..') ? line.slice(1) : line}\n`;
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') reply('250 sink');
        else if (verb === 'DATA') {
          inData = true;
          reply('354 go on');
        } else if (verb === 'QUIT') {
          reply('221 bye');
          socket.end();
        } else reply('250 ok');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    messages,
    /** The next message after `count` messages, waiting up to `ms`. */
    async message(count, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (messages.length <= count) {
        if (Date.now() > deadline) throw new Error(`no mail after ${count} messages`);
        await new Promise((resolve) => {
          waiting.push(resolve);
          setTimeout(resolve, 200);
        });
      }
      return messages[count];
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
