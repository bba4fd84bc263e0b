# goray in a container: the CLI plus your program, one static binary each.
# Build:  docker build -t goray .
# Run a head with its one port published:
#   docker run --rm -p 9937:9937 --shm-size=2g goray \
#     goray start --head --node-ip-address 0.0.0.0 --port 9937 --block
# or share the host's network (no port mapping needed): docker run --net=host ...
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/goray ./cmd/goray && \
    CGO_ENABLED=0 go build -o /out/resources ./examples/resources

FROM debian:bookworm-slim
COPY --from=build /out/goray /out/resources /usr/local/bin/
# The object store lives in /dev/shm: give the container enough of it
# (--shm-size), and the same --object-store-memory or less.
EXPOSE 9937
ENTRYPOINT []
CMD ["goray", "start", "--head", "--node-ip-address", "0.0.0.0", "--port", "9937", "--block"]
