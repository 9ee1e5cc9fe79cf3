// build/context: the files a build can COPY. A client turns a directory into the context tar
// (readContextFromDir: .dockerignore applied as the docker CLI applies it, owners 0:0, the
// Dockerfile and .dockerignore always included); the daemon extracts it safely into a temporary
// directory and reads the Dockerfile from it (openContextTar), then, per COPY/ADD, resolves the
// sources with Docker's pattern rules and checksums them for the cache key (resolveCopySources,
// checksumSources); the directory is removed when the build ends.

export { readContextFromDir, type ContextFromDirOptions, type ContextTar } from './pack.ts';
export { openContextTar, type OpenContextOptions, type OpenedContext } from './open.ts';
export { checksumSources, resolveCopySources, type ChecksumResult, type Owner, type SourceChecksum } from './checksum.ts';
export { IgnoreMatcher, keepBuildFiles, readDockerignore } from './dockerignore.ts';
export { containsWildcards, goMatch, type ResolvedSource } from './glob.ts';
export { resolveInScope } from './scope.ts';
export { BAD_DATA, decompressed, detectCompression, isArchiveFile, isTarHeader, looksLikeArchive, HEADER_SIZE, type Compression } from './compression.ts';
