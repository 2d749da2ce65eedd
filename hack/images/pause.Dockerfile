# The pod sandbox image of the local cluster's node (hack/node-images.sh
# builds pause.cc static into the context).
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
