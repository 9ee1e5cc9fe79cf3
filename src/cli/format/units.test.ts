import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ago,
  bytesSize,
  containerState,
  containerStatus,
  goTimeString,
  humanDuration,
  humanSize,
  humanSizeWithPrecision,
} from './units.ts';

// Vectors from github.com/docker/go-units size_test.go and duration_test.go,
// and moby daemon/container/state.go (State.String, State.State).

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const MONTH = 30 * DAY;
const YEAR = 365 * DAY;

describe('humanSize (HumanSizeWithPrecision(size, 3), as docker ps/images)', () => {
  it('uses decimal units and 3 significant digits', () => {
    assert.equal(humanSize(0), '0B');
    assert.equal(humanSize(999), '999B');
    assert.equal(humanSize(1000), '1kB');
    assert.equal(humanSize(1024), '1.02kB');
    assert.equal(humanSize(4100), '4.1kB');
    assert.equal(humanSize(1234567), '1.23MB');
    assert.equal(humanSize(1125), '1.12kB'); // exact tie rounds to even, as Go's %g
    assert.equal(humanSize(77_800_000), '77.8MB');
    assert.equal(humanSize(3.42e9), '3.42GB');
  });

  it('shows go-units\' exponent form just below the next unit', () => {
    assert.equal(humanSize(999_999), '1e+03kB');
    assert.equal(humanSize(999_500), '1e+03kB');
    assert.equal(humanSize(999_499), '999kB');
  });
});

describe('humanSizeWithPrecision (go-units TestHumanSize, precision 4)', () => {
  it('matches go-units HumanSize', () => {
    assert.equal(humanSizeWithPrecision(1000, 4), '1kB');
    assert.equal(humanSizeWithPrecision(1024, 4), '1.024kB');
    assert.equal(humanSizeWithPrecision(1000000, 4), '1MB');
    assert.equal(humanSizeWithPrecision(1048576, 4), '1.049MB');
    assert.equal(humanSizeWithPrecision(2e6, 4), '2MB');
    assert.equal(humanSizeWithPrecision(3.42e9, 4), '3.42GB');
    assert.equal(humanSizeWithPrecision(5.372e12, 4), '5.372TB');
    assert.equal(humanSizeWithPrecision(2.22e15, 4), '2.22PB');
    assert.equal(humanSizeWithPrecision(10000000000000 * 1e15, 4), '1e+04YB');
  });
});

describe('bytesSize (go-units TestBytesSize)', () => {
  it('uses binary units and 4 significant digits', () => {
    const KiB = 1024;
    const MiB = KiB * 1024;
    const GiB = MiB * 1024;
    const TiB = GiB * 1024;
    const PiB = TiB * 1024;
    assert.equal(bytesSize(1024), '1KiB');
    assert.equal(bytesSize(1024 * 1024), '1MiB');
    assert.equal(bytesSize(2 * MiB), '2MiB');
    assert.equal(bytesSize(3.42 * GiB), '3.42GiB');
    assert.equal(bytesSize(5.372 * TiB), '5.372TiB');
    assert.equal(bytesSize(2.22 * PiB), '2.22PiB');
    assert.equal(bytesSize(KiB * KiB * KiB * KiB * KiB * PiB), '1.049e+06YiB');
  });
});

describe('humanDuration (go-units ExampleHumanDuration)', () => {
  const cases: [number, string][] = [
    [450, 'Less than a second'],
    [-5 * SECOND, 'Less than a second'],
    [1 * SECOND, '1 second'],
    [47 * SECOND, '47 seconds'],
    [59 * SECOND, '59 seconds'],
    [1 * MINUTE, 'About a minute'],
    [3 * MINUTE, '3 minutes'],
    [35 * MINUTE, '35 minutes'],
    [35 * MINUTE + 40 * SECOND, '35 minutes'],
    [1 * HOUR, 'About an hour'],
    [1 * HOUR + 45 * MINUTE, '2 hours'],
    [3 * HOUR, '3 hours'],
    [3 * HOUR + 59 * MINUTE, '4 hours'],
    [3 * HOUR + 60 * MINUTE, '4 hours'],
    [24 * HOUR, '24 hours'],
    [24 * HOUR + 12 * HOUR, '36 hours'],
    [2 * DAY, '2 days'],
    [7 * DAY, '7 days'],
    [13 * DAY + 5 * HOUR, '13 days'],
    [2 * WEEK, '2 weeks'],
    [2 * WEEK + 4 * DAY, '2 weeks'],
    [3 * WEEK, '3 weeks'],
    [4 * WEEK, '4 weeks'],
    [4 * WEEK + 3 * DAY, '4 weeks'],
    [1 * MONTH, '4 weeks'],
    [1 * MONTH + 2 * WEEK, '6 weeks'],
    [2 * MONTH, '2 months'],
    [3 * MONTH + 1 * WEEK, '3 months'],
    [5 * MONTH + 2 * WEEK, '5 months'],
    [13 * MONTH, '13 months'],
    [23 * MONTH, '23 months'],
    [24 * MONTH, '24 months'],
    [24 * MONTH + 2 * WEEK, '2 years'],
    [3 * YEAR + 2 * MONTH, '3 years'],
  ];
  for (const [ms, want] of cases) {
    it(`${ms} ms → ${want}`, () => assert.equal(humanDuration(ms), want));
  }
});

describe('ago', () => {
  const now = Date.UTC(2024, 0, 2, 12, 0, 0);
  it('appends " ago" to the duration since the moment', () => {
    assert.equal(ago(now - 3 * SECOND, now), '3 seconds ago');
    assert.equal(ago(now - 90 * SECOND, now), 'About a minute ago');
    assert.equal(ago(new Date(now - 24 * HOUR), now), '24 hours ago');
    assert.equal(ago('2024-01-02T11:59:59.5Z', now), 'Less than a second ago');
  });
});

describe('containerStatus and containerState (moby State.String / State.State)', () => {
  const now = Date.UTC(2024, 0, 2, 12, 0, 0);
  const startedAt = new Date(now - 5 * SECOND).toISOString();
  const finishedAt = new Date(now - 3 * SECOND).toISOString();

  it('reports running containers with their uptime, pause and health', () => {
    assert.equal(containerStatus({ running: true, startedAt }, now), 'Up 5 seconds');
    assert.equal(containerStatus({ running: true, paused: true, startedAt }, now), 'Up 5 seconds (Paused)');
    assert.equal(containerStatus({ running: true, startedAt, health: 'healthy' }, now), 'Up 5 seconds (healthy)');
    assert.equal(containerStatus({ running: true, startedAt, health: 'unhealthy' }, now), 'Up 5 seconds (unhealthy)');
    assert.equal(containerStatus({ running: true, startedAt, health: 'starting' }, now), 'Up 5 seconds (health: starting)');
    assert.equal(containerStatus({ running: true, startedAt, health: '' }, now), 'Up 5 seconds (unhealthy)');
    assert.equal(containerStatus({ running: true, startedAt: now - 2 * HOUR }, now), 'Up 2 hours');
    assert.equal(containerState({ running: true, startedAt }), 'running');
    assert.equal(containerState({ running: true, paused: true, startedAt }), 'paused');
  });

  it('reports restarting before health, with the last exit code', () => {
    const s = { running: true, restarting: true, exitCode: 1, startedAt, finishedAt, health: 'healthy' };
    assert.equal(containerStatus(s, now), 'Restarting (1) 3 seconds ago');
    assert.equal(containerState(s), 'restarting');
  });

  it('reports stopped containers', () => {
    assert.equal(containerStatus({ running: false, exitCode: 0, startedAt, finishedAt }, now), 'Exited (0) 3 seconds ago');
    assert.equal(containerStatus({ running: false, exitCode: 137, startedAt, finishedAt: now - 2 * DAY }, now), 'Exited (137) 2 days ago');
    assert.equal(containerState({ running: false, startedAt, finishedAt }), 'exited');
  });

  it('reports created, removing and dead containers', () => {
    const zero = '0001-01-01T00:00:00Z';
    assert.equal(containerStatus({ running: false, startedAt: zero, finishedAt: zero }, now), 'Created');
    assert.equal(containerStatus({ running: false }, now), 'Created');
    assert.equal(containerState({ running: false, startedAt: zero }), 'created');
    assert.equal(containerStatus({ running: false, removalInProgress: true, startedAt }, now), 'Removal In Progress');
    assert.equal(containerState({ running: false, removalInProgress: true }), 'removing');
    assert.equal(containerStatus({ running: false, dead: true, startedAt }, now), 'Dead');
    assert.equal(containerState({ running: false, dead: true }), 'dead');
    assert.equal(containerStatus({ running: false, startedAt, finishedAt: zero }, now), '');
  });
});

describe('goTimeString (Go time.Time.String)', () => {
  it('prints local time with offset and zone', () => {
    const saved = process.env['TZ'];
    try {
      process.env['TZ'] = 'UTC';
      assert.equal(goTimeString(Date.UTC(2024, 0, 2, 3, 4, 5)), '2024-01-02 03:04:05 +0000 UTC');
      assert.equal(goTimeString(Date.UTC(2024, 0, 2, 3, 4, 5, 120)), '2024-01-02 03:04:05.12 +0000 UTC');
      process.env['TZ'] = 'America/Los_Angeles';
      assert.equal(goTimeString(Date.UTC(2024, 0, 2, 3, 4, 5)), '2024-01-01 19:04:05 -0800 PST');
      // tzdata has no abbreviation for Riyadh; Go prints the offset, "+03".
      process.env['TZ'] = 'Asia/Riyadh';
      assert.equal(goTimeString(Date.UTC(2024, 0, 2, 3, 4, 5)), '2024-01-02 06:04:05 +0300 +03');
    } finally {
      if (saved === undefined) delete process.env['TZ'];
      else process.env['TZ'] = saved;
    }
  });
});
