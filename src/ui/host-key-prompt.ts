import { confirm } from '@inquirer/prompts';

/** Is this the server's key? Asked of a person who can compare it with the server's own. */
export async function askHostKey(fingerprint: string, where: string): Promise<boolean> {
  return confirm({
    message: `Is ${fingerprint} the host key of ${where}? (compare with: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server)`,
    default: false,
  });
}
