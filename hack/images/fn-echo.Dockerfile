# fn-echo, the sample function (hack/fn-echo), as a Function image: listens on
# $PORT (8080 when unset). Non-root, so it runs under Pod Security "restricted".
FROM debian:bookworm
COPY packages.txt /tmp/packages.txt
RUN pkgs=$(cat /tmp/packages.txt); if [ -n "$pkgs" ]; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
      && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*; fi; rm -f /tmp/packages.txt
COPY bin/fn-echo /usr/local/bin/fn-echo
RUN if ldd /usr/local/bin/fn-echo | grep 'not found'; then exit 1; fi
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fn-echo"]
