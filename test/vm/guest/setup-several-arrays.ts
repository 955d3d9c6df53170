import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MDADM_CONF } from '../../../src/stack/array-state.js';
import { cli } from '../../support/cli.js';
import { sh } from '../../support/sh.js';
import { tree } from '../../support/tree.js';
import type { Scenario } from './support.js';
import { ETC_RESUME } from './setup-resume.js';
import { DATA, freshHost, MP, ok, stackIsDown } from './setup-fixture.js';

/** The resumed disk among the other backup arrays of the boot, on a host that records none. */
export const severalArrays: Scenario[] = [
  [
    'no ARRAY line, other backup disks attached: open assembles only the array that holds the configured partition; a partition none holds is refused',
    () => {
      freshHost();
      const conf = existsSync(MDADM_CONF) ? readFileSync(MDADM_CONF, 'utf8') : '';
      assert.doesNotMatch(conf, /^ARRAY \/dev\/md\/backup /m, 'this host records no array under the name');
      const named = new Set(
        sh('mdadm', ['--examine', '--scan'])
          .split('\n')
          .filter((l) => /name=\S*:backup(\s|$)/.test(l))
          .map((l) => /UUID=(\S+)/.exec(l)![1]),
      );
      assert.ok(named.size >= 2, `several arrays named backup are attached: ${[...named].join(' ')}`);
      const config = join(ETC_RESUME, 'config.toml');
      const partition = /^partition = "(.*)"$/m.exec(readFileSync(config, 'utf8'))![1]!;
      const ours = /Array UUID : (\S+)/.exec(sh('mdadm', ['--examine', partition]))![1];
      ok(cli(['open', '--config', config]));
      assert.equal(
        /UUID : (\S+)/.exec(sh('mdadm', ['--detail', '/dev/md/backup']))![1],
        ours,
        'the array of the configured partition',
      );
      assert.deepEqual(tree(join(MP, 'data', 'latest')), tree(DATA));
      ok(cli(['close', '--config', config]));
      // a config (in a root-only folder, as configs must be) naming a partition no array holds
      const stranger = join(ETC_RESUME, 'stranger.toml');
      writeFileSync(
        stranger,
        readFileSync(config, 'utf8').replace(
          /^partition = .*$/m,
          'partition = "/dev/disk/by-partlabel/backup-nonesuch"',
        ),
      );
      const refused = cli(['open', '--config', stranger]);
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(`carry ${named.size} arrays of that name:[\\s\\S]*nothing was assembled`),
      );
      stackIsDown();
      rmSync(stranger);
    },
  ],
];
