# The zeroscale image as the local cluster runs it: the same runtime stage as
# the release Dockerfile at the repo root, but with the binaries of this
# checkout's build (hack/node-images.sh puts them and the Debian packages they
# link into the context), so tests run what was just compiled without a
# second C++ build inside Docker. Same base (debian:bookworm), same user.
FROM debian:bookworm
COPY packages.txt /tmp/packages.txt
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates $(cat /tmp/packages.txt) \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* /tmp/*
COPY bin/ /usr/local/bin/
RUN if ldd /usr/local/bin/* | grep 'not found'; then exit 1; fi
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/zeroscale-controller"]
