// The Engine API: one router per resource over the engine.
import type http from 'node:http';
import type { Engine } from '../engine/engine.ts';
import { Router, createApiServer } from './server.ts';
import { systemRoutes } from './routes/system.ts';
import { containerRoutes } from './routes/containers.ts';
import { imageRoutes } from './routes/images.ts';
import { buildRoutes } from './routes/build.ts';
import { archiveRoutes } from './routes/archive.ts';
import { distributionRoutes } from './routes/distribution.ts';
import { imageArchiveRoutes } from './routes/archive-images.ts';

export function createEngineApi(engine: Engine): http.Server {
  const r = new Router();
  systemRoutes(r, engine);
  containerRoutes(r, engine);
  distributionRoutes(r, engine); // before imageRoutes: owns POST /images/create?fromImage=
  imageArchiveRoutes(r, engine); // before imageRoutes: /images/get and /images/load are not image names
  imageRoutes(r, engine);
  buildRoutes(r, engine);
  archiveRoutes(r, engine);
  return createApiServer(r);
}
