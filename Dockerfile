# One image carries both binaries: zeroscale-controller and zeroscale-activator.
#
# No registry is reachable from our machines, so hack/image.sh first makes a
# debian:bookworm base image with debootstrap and `docker import`; anywhere
# else the official debian:bookworm image works unchanged.

FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      libyaml-cpp-dev libcurl4-openssl-dev prometheus-cpp-dev libgtest-dev libgmock-dev \
      libboost-dev libboost-system-dev nlohmann-json3-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    && ninja -C /build zeroscale-controller zeroscale-activator \
    && strip /build/controller/zeroscale-controller /build/activator/zeroscale-activator

FROM debian:bookworm AS runtime
# Only the shared libraries the two binaries link.
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libgrpc++1.51 libprotobuf32 libabsl20220623 libyaml-cpp0.7 libcurl4 \
      libprometheus-cpp-core1.0 libssl3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*
COPY --from=build /build/controller/zeroscale-controller /build/activator/zeroscale-activator /usr/local/bin/
# Non-root, and nothing on the root filesystem needs writing (run it read-only).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/zeroscale-controller"]
