# gifd and gifctl from Debian packages only (the same ones scripts/deps.sh installs).
# docker-compose.yml runs a three-organisation consortium from this image.
FROM debian:bookworm AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake pkg-config libssl-dev libsodium-dev libuv1-dev liblmdb-dev \
      libmsgpack-dev libcmocka-dev libjansson-dev libhttp-parser-dev libinih-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null \
    && cmake --build /build -j"$(nproc)" --target gifd gifctl

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libssl3 libsodium23 libuv1 liblmdb0 lmdb-utils libmsgpackc2 libjansson4 \
      libhttp-parser2.9 libinih1 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/gifd /build/gifctl /usr/local/bin/
COPY scripts/docker-init.sh /usr/local/bin/gifnet-init
RUN useradd --system --home /data gifnet && mkdir -p /data /consortium \
    && chown gifnet /data /consortium
USER gifnet
EXPOSE 7480 7481
CMD ["gifd", "--help"]
