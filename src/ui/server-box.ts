import boxen from 'boxen';

// What a person does on the backup server once setup or target add has made this host's
// key. The authorized_keys line stands below the box, alone on its line: inside a box,
// its borders and the wrapping of a long line would be copied with it.

export function serverBox(o: {
  name: string;
  ssh: string;
  port: number;
  fingerprint: string;
  serveRoot: string;
  host: string;
  authorizedKeysLine: string;
}): string {
  const user = o.ssh.slice(0, o.ssh.lastIndexOf('@'));
  const root = `${o.serveRoot.replace(/\/+$/, '')}/${o.host}`;
  const body = [
    `server       ${o.ssh} port ${o.port} ([targets.${o.name}])`,
    `host key     ${o.fingerprint} (pinned)`,
    '',
    'On the server, once:',
    `  1. if not done yet: btrfs-vault serve --init ${o.serveRoot}`,
    `  2. mkdir -m 700 ${root}`,
    `  3. add the line below to ${user === 'root' ? '/root' : `~${user}`}/.ssh/authorized_keys`,
    'Then here: btrfs-vault doctor, and btrfs-vault backup',
  ].join('\n');
  const box = boxen(body, {
    title: 'backup server',
    padding: { left: 1, right: 1, top: 0, bottom: 0 },
    borderStyle: 'round',
  });
  return `${box}\n${o.authorizedKeysLine}\n`;
}
