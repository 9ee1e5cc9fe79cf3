// The container state is one value of a closed set, moved only along this table.
import { conflict } from '../core/errors.ts';
import type { ContainerStatus } from './types.ts';

const TRANSITIONS: Record<ContainerStatus, readonly ContainerStatus[]> = {
  created: ['running', 'removing', 'exited', 'dead'],
  running: ['paused', 'exited', 'restarting', 'dead', 'running'],
  paused: ['running', 'exited', 'dead'],
  restarting: ['running', 'exited', 'dead'],
  exited: ['running', 'removing', 'restarting', 'dead'],
  dead: ['removing'],
  removing: ['dead'],
};

export function canTransition(from: ContainerStatus, to: ContainerStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(id: string, from: ContainerStatus, to: ContainerStatus): void {
  if (!canTransition(from, to)) throw conflict(`cannot move container ${id.slice(0, 12)} from ${from} to ${to}`);
}
