# One image carries the three binaries: zeroscale-controller (the entrypoint),
# zeroscale-activator and zeroscale-triggers (select them with `command:` in
# the pod spec).
#
# No registry is reachable from our machines, so hack/image.sh first makes a
# debian:bookworm base image with debootstrap and `docker import`; anywhere
# else the official debian:bookworm image works unchanged. Written for the
# classic builder too (no BuildKit-only syntax).

FROM debian:bookworm AS build
ARG JOBS=2
# The git revision zeroscale_build_info reports (the context has no .git).
ARG REVISION=unknown
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      libyaml-cpp-dev libcurl4-openssl-dev prometheus-cpp-dev libgtest-dev libgmock-dev \
      libboost-dev libboost-system-dev nlohmann-json3-dev libssl-dev libhowardhinnant-date-dev \
      libnats-dev libhiredis-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DZS_REVISION="${REVISION}" \
    && ninja -C /build -j"${JOBS}" zeroscale-controller zeroscale-activator zeroscale-triggers \
    && mkdir /out \
    && strip -o /out/zeroscale-controller /build/controller/zeroscale-controller \
    && strip -o /out/zeroscale-activator /build/activator/zeroscale-activator \
    && strip -o /out/zeroscale-triggers /build/triggers/zeroscale-triggers
# The runtime packages are derived from what the binaries link, so the runtime
# stage never drifts from the build (a new library is a new package, not a
# crash at start). dpkg knows bookworm's libraries under /lib or /usr/lib.
RUN for lib in $(ldd /out/zeroscale-controller /out/zeroscale-activator /out/zeroscale-triggers | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do \
      real=$(readlink -f "$lib"); \
      dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null \
        || { echo "no package owns $lib" >&2; exit 1; }; \
    done | cut -d: -f1 | sort -u > /out/runtime-packages.txt \
    && cat /out/runtime-packages.txt

FROM debian:bookworm AS runtime
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates $(cat /tmp/runtime-packages.txt) \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* /tmp/*
COPY --from=build /out/zeroscale-controller /out/zeroscale-activator /out/zeroscale-triggers /usr/local/bin/
RUN if ldd /usr/local/bin/zeroscale-controller /usr/local/bin/zeroscale-activator /usr/local/bin/zeroscale-triggers | grep 'not found'; then exit 1; fi
# Non-root (the distroless "nonroot" uid), and nothing on the root filesystem
# needs writing: run it with readOnlyRootFilesystem.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/zeroscale-controller"]
# Last, so that a new revision does not invalidate the cached layers above.
ARG REVISION=unknown
LABEL org.opencontainers.image.title="zeroscale" \
      org.opencontainers.image.description="zeroscale-controller, zeroscale-activator and zeroscale-triggers" \
      org.opencontainers.image.revision="${REVISION}"
