// berth's commands (commander), loaded by main.ts. Every command is a client of the Engine
// API; implementations are loaded only when their command runs, so short commands start fast.
import { Command, CommanderError, Option } from 'commander';
import { EngineError } from '../core/errors.ts';
import { ConnectError } from '../client/index.ts';
import { closeClient, type GlobalOptions } from './context.ts';
import { ExitStatus, exitCodeOf } from './exit-codes.ts';

// A reader that went away (`berth logs -f x | head`) ends the command quietly, as docker does.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

type Action = (opts: Record<string, unknown>, args: string[], g: GlobalOptions) => Promise<void>;

function lazy(load: () => Promise<{ default: Action }>): (...a: unknown[]) => Promise<void> {
  return async (...a: unknown[]) => {
    const cmd = a[a.length - 1] as Command;
    const opts = cmd.opts();
    const args = cmd.args;
    const g = program.opts() as GlobalOptions;
    const mod = await load();
    await mod.default(opts, args, g);
  };
}

const program = new Command('berth');
program
  .description('A Docker-compatible container engine')
  .version('berth version 0.1.0', '-v, --version')
  .option('-H, --host <host>', 'Daemon socket to connect to')
  .enablePositionalOptions()
  .showHelpAfterError(false)
  .configureOutput({
    writeErr: (s) => process.stderr.write(s.replace(/^error: unknown option '([^']+)'/m, 'unknown flag: $1').replace(/^error: /m, '')),
  })
  .exitOverride();

function runOptions(c: Command): Command {
  return c
    .helpOption('--help', 'Print usage')
    .option('-d, --detach', 'Run container in background and print container ID')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('--rm', 'Automatically remove the container and its associated anonymous volumes when it exits')
    .option('--name <string>', 'Assign a name to the container')
    .option('-e, --env <list>', 'Set environment variables', collect)
    .option('--env-file <list>', 'Read in a file of environment variables', collect)
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <string>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-h, --hostname <string>', 'Container host name')
    .option('-l, --label <list>', 'Set meta data on a container', collect)
    .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .option('--network, --net <network>', 'Connect a container to a network', 'default')
    .option('--privileged', 'Give extended privileges to this container')
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--cap-add <list>', 'Add Linux capabilities', collect)
    .option('--cap-drop <list>', 'Drop Linux capabilities', collect)
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--cpus <decimal>', 'Number of CPUs')
    .option('--shm-size <bytes>', 'Size of /dev/shm')
    .option('--stop-signal <string>', 'Signal to stop the container')
    .option('--stop-timeout <int>', 'Timeout (in seconds) to stop a container')
    .option('--restart <string>', 'Restart policy to apply when a container exits', 'no')
    .option('-a, --attach <list>', 'Attach to STDIN, STDOUT or STDERR', collect)
    .option('--sig-proxy <bool>', 'Proxy received signals to the process', 'true')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .option('-p, --publish <list>', "Publish a container's port(s) to the host", collect)
    .option('-v, --volume <list>', 'Bind mount a volume', collect)
    .option('-q, --quiet', 'Suppress the pull output')
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions();
}

const containerCmds = (parent: Command, top: boolean): void => {
  const name = (n: string): string => n;
  runOptions(parent.command(name('run')).description('Create and run a new container from an image')).action(lazy(() => import('./commands/container/run.ts')));
  runOptions(parent.command(name('create')).description('Create a new container')).action(lazy(() => import('./commands/container/create.ts')));
  parent
    .command('start')
    .description('Start one or more stopped containers')
    .option('-a, --attach', 'Attach STDOUT/STDERR and forward signals')
    .option('-i, --interactive', "Attach container's STDIN")
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .argument('<container...>')
    .action(lazy(() => import('./commands/container/start.ts')));
  for (const [verb, desc] of [
    ['stop', 'Stop one or more running containers'],
    ['restart', 'Restart one or more containers'],
  ] as const) {
    parent
      .command(verb)
      .description(desc)
      .option('-t, --time <int>', 'Seconds to wait before killing the container')
      .option('-s, --signal <string>', 'Signal to send to the container')
      .argument('<container...>')
      .action(lazy(() => import(`./commands/container/simple.ts`).then((m) => ({ default: m[verb] }))));
  }
  parent
    .command('kill')
    .description('Kill one or more running containers')
    .option('-s, --signal <string>', 'Signal to send to the container')
    .argument('<container...>')
    .action(lazy(() => import('./commands/container/simple.ts').then((m) => ({ default: m.kill }))));
  for (const [verb, desc] of [
    ['pause', 'Pause all processes within one or more containers'],
    ['unpause', 'Unpause all processes within one or more containers'],
  ] as const) {
    parent.command(verb).description(desc).argument('<container...>').action(lazy(() => import('./commands/container/simple.ts').then((m) => ({ default: m[verb] }))));
  }
  parent
    .command('rm')
    .alias('remove')
    .description('Remove one or more containers')
    .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
    .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
    .option('-l, --link', 'Remove the specified link')
    .argument('<container...>')
    .action(lazy(() => import('./commands/container/simple.ts').then((m) => ({ default: m.rm }))));
  parent
    .command('attach')
    .description('Attach local standard input, output, and error streams to a running container')
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .option('--no-stdin', 'Do not attach STDIN')
    .option('--sig-proxy <bool>', 'Proxy all received signals to the process', 'true')
    .argument('<container>')
    .action(lazy(() => import('./commands/container/attach.ts')));
  parent
    .command('logs')
    .description('Fetch the logs of a container')
    .option('-f, --follow', 'Follow log output')
    .option('-n, --tail <string>', 'Number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'Show timestamps')
    .option('--since <string>', 'Show logs since timestamp or relative (e.g. 42m)')
    .option('--until <string>', 'Show logs before a timestamp or relative')
    .option('--details', 'Show extra details provided to logs')
    .argument('<container>')
    .action(lazy(() => import('./commands/container/logs.ts')));
  (top ? parent.command('ps') : parent.command('ls').aliases(['ps', 'list']))
    .description('List containers')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('-q, --quiet', 'Only display container IDs')
    .option('-n, --last <int>', 'Show n last created containers (includes all states)')
    .option('-l, --latest', 'Show the latest created container (includes all states)')
    .option('-s, --size', 'Display total file sizes')
    .option('--no-trunc', "Don't truncate output")
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Format output using a custom template')
    .action(lazy(() => import('./commands/container/ps.ts')));
  parent
    .command('wait')
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action(lazy(() => import('./commands/container/simple.ts').then((m) => ({ default: m.wait }))));
  parent
    .command('exec')
    .helpOption('--help')
    .description('Execute a command in a running container')
    .option('-d, --detach', 'Detached mode: run command in the background')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-e, --env <list>', 'Set environment variables', collect)
    .option('--env-file <list>', 'Read in a file of environment variables', collect)
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .option('-u, --user <string>', 'Username or UID')
    .option('--privileged', 'Give extended privileges to the command')
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .action(lazy(() => import('./commands/container/exec.ts')));
  parent
    .command('top')
    .description('Display the running processes of a container')
    .argument('<container>')
    .argument('[ps-options...]')
    .passThroughOptions()
    .action(lazy(() => import('./commands/container/simple.ts').then((m) => ({ default: m.top }))));
  parent
    .command('export')
    .description("Export a container's filesystem as a tar archive")
    .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
    .argument('<container>')
    .action(lazy(() => import('./commands/container/export.ts')));
  parent
    .command('rename')
    .description('Rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action(lazy(() => import('./commands/container/simple.ts').then((m) => ({ default: m.rename }))));
  parent
    .command('cp')
    .description('Copy files/folders between a container and the local filesystem')
    .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
    .option('-L, --follow-link', 'Always follow symbol link in SRC_PATH')
    .option('-q, --quiet', 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached')
    .argument('<src>')
    .argument('<dest>')
    .action(lazy(() => import('./commands/container/cp.ts')));
  parent
    .command('commit')
    .description("Create a new image from a container's changes")
    .option('-a, --author <string>', 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <string>', 'Commit message')
    .option('-p, --pause <bool>', 'Pause container during commit', 'true')
    .argument('<container>')
    .argument('[repository]')
    .action(lazy(() => import('./commands/image/simple.ts').then((m) => ({ default: m.commit }))));
  if (!top) {
    parent
      .command('prune')
      .description('Remove all stopped containers')
      .option('-f, --force', 'Do not prompt for confirmation')
      .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect)
      .action(lazy(() => import('./commands/container/simple.ts').then((m) => ({ default: m.prune }))));
    parent
      .command('inspect')
      .description('Display detailed information on one or more containers')
      .option('-f, --format <string>', 'Format output using a custom template')
      .option('-s, --size', 'Display total file sizes')
      .argument('<container...>')
      .action(lazy(() => import('./commands/inspect.ts').then((m) => ({ default: m.inspectContainers }))));
  }
};

const imageCmds = (parent: Command, top: boolean): void => {
  (top ? parent.command('images') : parent.command('ls').aliases(['list']))
    .description('List images')
    .option('-a, --all', 'Show all images (default hides intermediate images)')
    .option('-q, --quiet', 'Only show image IDs')
    .option('--digests', 'Show digests')
    .option('--no-trunc', "Don't truncate output")
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Format output using a custom template')
    .argument('[repository]')
    .action(lazy(() => import('./commands/image/images.ts')));
  (top ? parent.command('rmi') : parent.command('rm').aliases(['remove']))
    .description('Remove one or more images')
    .option('-f, --force', 'Force removal of the image')
    .option('--no-prune', 'Do not delete untagged parents')
    .argument('<image...>')
    .action(lazy(() => import('./commands/image/simple.ts').then((m) => ({ default: m.rmi }))));
  parent
    .command('tag')
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>')
    .argument('<target>')
    .action(lazy(() => import('./commands/image/simple.ts').then((m) => ({ default: m.tag }))));
  parent
    .command('import')
    .description('Import the contents from a tarball to create a filesystem image')
    .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <string>', 'Set commit message for imported image')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .argument('<file>')
    .argument('[reference]')
    .action(lazy(() => import('./commands/image/simple.ts').then((m) => ({ default: m.importImage }))));
  parent
    .command('pull')
    .description('Download an image from a registry')
    .option('-a, --all-tags', 'Download all tagged images in the repository')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .option('-q, --quiet', 'Suppress verbose output')
    .argument('<name>')
    .action(lazy(() => import('./commands/image/pull.ts')));
  parent
    .command('push')
    .description('Upload an image to a registry')
    .option('-a, --all-tags', 'Push all tags of an image to the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .argument('<name>')
    .action(lazy(() => import('./commands/image/push.ts')));
  parent
    .command('save')
    .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
    .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
    .argument('<image...>')
    .action(lazy(() => import('./commands/image/save.ts')));
  parent
    .command('load')
    .description('Load an image from a tar archive or STDIN')
    .option('-i, --input <string>', 'Read from tar archive file, instead of STDIN')
    .option('-q, --quiet', 'Suppress the load output')
    .action(lazy(() => import('./commands/image/load.ts')));
  parent
    .command('history')
    .description('Show the history of an image')
    .option('-H, --human <bool>', 'Print sizes and dates in human readable format', 'true')
    .option('-q, --quiet', 'Only show image IDs')
    .option('--no-trunc', "Don't truncate output")
    .option('--format <string>', 'Format output using a custom template')
    .argument('<image>')
    .action(lazy(() => import('./commands/image/simple.ts').then((m) => ({ default: m.history }))));
  parent
    .command('build')
    .description('Build an image from a Dockerfile')
    .option('-t, --tag <list>', 'Name and optionally a tag in the "name:tag" format', collect)
    .option('-f, --file <string>', 'Name of the Dockerfile (default: "PATH/Dockerfile")')
    .option('--build-arg <list>', 'Set build-time variables', collect)
    .option('--target <string>', 'Set the target build stage to build')
    .option('--no-cache', 'Do not use cache when building the image')
    .option('--pull', 'Always attempt to pull a newer version of the image')
    .option('--label <list>', 'Set metadata for an image', collect)
    .option('-q, --quiet', 'Suppress the build output and print image ID on success')
    .option('--rm <bool>', 'Remove intermediate containers after a successful build', 'true')
    .option('--force-rm', 'Always remove intermediate containers')
    .option('--iidfile <string>', 'Write the image ID to the file')
    .option('--network <string>', 'Set the networking mode for the RUN instructions during build')
    .argument('<path>')
    .action(lazy(() => import('./commands/image/build.ts')));
  if (!top) {
    parent
      .command('inspect')
      .description('Display detailed information on one or more images')
      .option('-f, --format <string>', 'Format output using a custom template')
      .argument('<image...>')
      .action(lazy(() => import('./commands/inspect.ts').then((m) => ({ default: m.inspectImages }))));
    parent
      .command('prune')
      .description('Remove unused images')
      .option('-a, --all', 'Remove all unused images, not just dangling ones')
      .option('-f, --force', 'Do not prompt for confirmation')
      .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect)
      .action(lazy(() => import('./commands/image/simple.ts').then((m) => ({ default: m.prune }))));
  }
};

containerCmds(program, true);
imageCmds(program, true);
containerCmds(program.command('container').description('Manage containers'), false);
imageCmds(program.command('image').description('Manage images'), false);

program
  .command('inspect')
  .description('Return low-level information on Docker objects')
  .option('-f, --format <string>', 'Format output using a custom template')
  .option('-s, --size', 'Display total file sizes if the type is container')
  .option('--type <string>', 'Return JSON for specified type')
  .argument('<name...>')
  .action(lazy(() => import('./commands/inspect.ts').then((m) => ({ default: m.inspectAny }))));
program
  .command('login')
  .description('Authenticate to a registry')
  .option('-u, --username <string>', 'Username')
  .option('-p, --password <string>', 'Password or Personal Access Token (PAT)')
  .option('--password-stdin', 'Take the Password or Personal Access Token (PAT) from stdin')
  .argument('[server]')
  .action(lazy(() => import('./commands/image/login.ts').then((m) => ({ default: m.login }))));
program
  .command('logout')
  .description('Log out from a registry')
  .argument('[server]')
  .action(lazy(() => import('./commands/image/login.ts').then((m) => ({ default: m.logout }))));

program
  .command('builder')
  .description('Manage builds')
  .command('prune')
  .description('Remove build cache')
  .option('-a, --all', 'Remove all unused build cache, not just dangling ones')
  .option('-f, --force', 'Do not prompt for confirmation')
  .action(lazy(() => import('./commands/image/simple.ts').then((m) => ({ default: m.builderPrune }))));

const system = program.command('system').description('Manage berth');
system
  .command('df')
  .description('Show berth disk usage')
  .option('--format <string>', 'Format output using a custom template')
  .action(lazy(() => import('./commands/system.ts').then((m) => ({ default: m.df }))));
system
  .command('info')
  .description('Display system-wide information')
  .option('-f, --format <string>', 'Format output using a custom template')
  .action(lazy(() => import('./commands/system.ts').then((m) => ({ default: m.info }))));

program
  .command('version')
  .description('Show the berth version information')
  .option('-f, --format <string>', 'Format output using a custom template')
  .action(lazy(() => import('./commands/system.ts').then((m) => ({ default: m.version }))));
program
  .command('info')
  .description('Display system-wide information')
  .option('-f, --format <string>', 'Format output using a custom template')
  .action(lazy(() => import('./commands/system.ts').then((m) => ({ default: m.info }))));
const registry = program.command('registry').description("Run berth's OCI registry server");
registry
  .command('serve')
  .description('Serve an OCI distribution (v1.1) registry from a directory')
  .helpOption('--help')
  .allowUnknownOption()
  .option('--addr <host:port>', 'Address to listen on', '127.0.0.1:5000')
  .option('--root <dir>', 'Storage directory')
  .option('--htpasswd <file>', 'htpasswd file (bcrypt) for Basic auth')
  .option('--tls-cert <file>', 'TLS certificate (PEM)')
  .option('--tls-key <file>', 'TLS key (PEM)')
  .action(async () => {
    // the registry is its own bundle (dist/berth-registry.mjs): run it here, in the foreground
    const { fileURLToPath, pathToFileURL } = await import('node:url');
    const { dirname, join } = await import('node:path');
    const script = join(dirname(fileURLToPath(import.meta.url)), 'berth-registry.mjs');
    const i = process.argv.indexOf('serve');
    process.argv = [process.argv[0] ?? 'node', script, ...process.argv.slice(i + 1)];
    await import(pathToFileURL(script).href);
    await new Promise(() => undefined);
  });

program
  .command('daemon')
  .description('Run the berth daemon (berthd) in the foreground')
  .option('--data-root <dir>', 'Root directory of persistent state', process.env.BERTH_ROOT ?? '/var/lib/berth')
  .option('--exec-root <dir>', 'Root directory for runtime state', process.env.BERTH_RUN ?? '/run/berth')
  .action(async (opts: { dataRoot: string; execRoot: string }) => {
    // the daemon is its own bundle (dist/berthd.mjs): run it in this process, in the foreground
    const host = (program.opts() as GlobalOptions).host;
    const { fileURLToPath, pathToFileURL } = await import('node:url');
    const { dirname, join } = await import('node:path');
    const script = join(dirname(fileURLToPath(import.meta.url)), 'berthd.mjs');
    process.argv = [process.argv[0] ?? 'node', script, '--data-root', opts.dataRoot, '--exec-root', opts.execRoot, ...(host ? ['--host', host] : [])];
    await import(pathToFileURL(script).href);
    await new Promise(() => undefined);
  });

/** Print what went wrong like the docker CLI and return the exit status. */
function report(e: unknown): number {
  const say = (m: string): void => {
    process.stderr.write(m.endsWith('\n') ? m : `${m}\n`);
  };
  if (e instanceof ExitStatus) return e.code;
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    const cmdName = process.argv.slice(2).find((a) => !a.startsWith('-')) ?? '';
    say(`See 'berth ${cmdName} --help'.`);
    return 125;
  }
  if (e instanceof Error && e.name === 'TemplateError') {
    say(`template parsing error: ${e.message}`);
    return 1;
  }
  if (e instanceof ConnectError) {
    say(e.message);
    return 1;
  }
  if (e instanceof EngineError) {
    say(`Error response from daemon: ${e.message}`);
    return exitCodeOf(e.kind);
  }
  say(`berth: ${e instanceof Error ? e.message : String(e)}`);
  return 125;
}

let status = 0;
try {
  await program.parseAsync(process.argv);
} catch (e) {
  status = report(e);
}
closeClient();
// exit once stdout and stderr are flushed (they are asynchronous when piped)
let pending = 2;
const done = (): void => {
  if (--pending === 0) process.exit(status);
};
process.stdout.write('', done);
process.stderr.write('', done);
