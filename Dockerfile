# Ferry's image: the `ferry` CLI (controller and node plugin) with the tools the node plugin calls.
# Build:  docker build -t ferry:0.1.0 .   (or buildah bud; see docs/packaging.md)
# The base images are arguments so an offline build can point them at local images.
ARG BUILD_IMAGE=node:20-bookworm
ARG RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# Dependencies first: this layer is reused while package-lock.json is unchanged. --ignore-scripts: `prepare` would
# build before the sources are here.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/gen-proto-types.mjs scripts/
COPY proto proto
COPY src src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete

FROM ${RUNTIME_IMAGE}
# mount + util-linux: mount, umount, losetup, blkid, findmnt, blockdev, fsfreeze; e2fsprogs and xfsprogs: mkfs,
# fsck, resize; nfs-common: mount.nfs; ca-certificates and openssl: TLS to the PowerFlex gateway.
RUN apt-get update \
 && apt-get install -y --no-install-recommends mount util-linux e2fsprogs xfsprogs nfs-common ca-certificates openssl tar \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/ferry
# dist/ reads package.json (its version) and proto/ (the CSI descriptor) at run time.
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY --from=build /src/proto proto
RUN ln -s /opt/ferry/dist/cli.js /usr/local/bin/ferry && ferry --version
# The driver's heap and threadpool (src/driver/runtime-settings.ts says why; a unit test keeps the two the same).
ENV NODE_OPTIONS="--max-semi-space-size=1" UV_THREADPOOL_SIZE=16
ENTRYPOINT ["ferry"]
CMD ["--help"]
