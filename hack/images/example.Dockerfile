# An example Function (examples/@NAME@) as the local cluster's node runs it:
# the runtime stage of examples/@NAME@/Dockerfile, with the binary of this
# checkout's build and exactly the Debian packages it links
# (hack/node-images.sh puts both into the context and fills in @NAME@), so no
# C++ is compiled inside Docker. Non-root, so it runs under Pod Security
# "restricted"; listens on $PORT (8080 when unset).
FROM debian:bookworm
COPY packages.txt /tmp/packages.txt
RUN pkgs=$(cat /tmp/packages.txt); if [ -n "$pkgs" ]; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
      && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*; fi; rm -f /tmp/packages.txt
COPY bin/example-@NAME@ /usr/local/bin/example-@NAME@
RUN if ldd /usr/local/bin/example-@NAME@ | grep 'not found'; then exit 1; fi
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/example-@NAME@"]
