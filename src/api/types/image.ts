// Docker's wire shapes for images.
import { familiarString, familiarName, type Reference } from '../../core/reference.ts';
import type { ImageRecord } from '../../images/types.ts';

type Json = Record<string, unknown>;

export function toImageSummary(rec: ImageRecord, tags: Reference[], containers: number, digests: Reference[] = []): Json {
  const repoTags = tags.map(familiarString);
  return {
    Id: rec.id,
    ParentId: rec.parent ?? '',
    RepoTags: repoTags,
    RepoDigests: digests.map(familiarString),
    Created: Math.floor(Date.parse(rec.created) / 1000),
    Size: rec.size,
    SharedSize: -1,
    VirtualSize: rec.size,
    Labels: rec.config.config?.Labels ?? {},
    Containers: containers,
  };
}

export function toImageInspect(rec: ImageRecord, tags: Reference[], digests: Reference[] = []): Json {
  const c = rec.config.config ?? {};
  return {
    Id: rec.id,
    RepoTags: tags.map(familiarString),
    RepoDigests: digests.map(familiarString),
    Parent: rec.parent ?? '',
    Comment: rec.config.history?.[rec.config.history.length - 1]?.comment ?? '',
    Created: rec.created,
    DockerVersion: '',
    Author: rec.config.author ?? '',
    Config: {
      Hostname: '',
      Domainname: '',
      User: c.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      Image: '',
      Volumes: c.Volumes ?? null,
      WorkingDir: c.WorkingDir ?? '',
      Entrypoint: c.Entrypoint ?? null,
      OnBuild: c.OnBuild ?? null,
      Labels: c.Labels ?? null,
      ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
      ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
      ...(c.Shell ? { Shell: c.Shell } : {}),
    },
    Architecture: rec.config.architecture,
    Os: rec.config.os,
    Size: rec.size,
    VirtualSize: rec.size,
    GraphDriver: { Name: 'overlay', Data: null },
    RootFS: { Type: 'layers', Layers: rec.config.rootfs.diff_ids },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

export function imageDisplayName(tags: Reference[], id: string): string {
  const t = tags[0];
  return t ? familiarString(t) : id;
}

export { familiarName };
