# gl-signerd in a container: a static binary on a distroless base (no
# shell, no package manager), running as the non-root user 65532, with the
# state directory as a volume.
#
#   docker build -t gl-signerd .
#   docker volume create gl-signerd
#   # once: create the store and register (words on stdin, passphrase as a file)
#   docker run --rm -i -v gl-signerd:/var/lib/gl-signerd \
#     -v "$PWD/passphrase:/run/secrets/passphrase:ro" \
#     gl-signerd init --recover
#   docker run --rm -v gl-signerd:/var/lib/gl-signerd \
#     -v "$PWD/passphrase:/run/secrets/passphrase:ro" \
#     -e GL_CA_CRT=... -e GL_NOBODY_CRT=... -e GL_NOBODY_KEY=... gl-signerd register
#   # then the daemon
#   docker run -d --name gl-signerd --restart on-failure --stop-timeout 15 \
#     -v gl-signerd:/var/lib/gl-signerd \
#     -v "$PWD/passphrase:/run/secrets/passphrase:ro" gl-signerd
#   docker exec gl-signerd gl-signerd ctl status
#
# The passphrase file must be readable by uid 65532 and by nobody else
# (chown 65532 passphrase; chmod 0400 passphrase), or be a Compose secret
# with uid "65532" and mode 0400. Core files are the host's business: run
# with --ulimit core=0 (gl-signerd also turns them off for itself).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gl-signerd ./cmd/gl-signerd \
 && mkdir -m 0700 /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gl-signerd /usr/local/bin/gl-signerd
COPY --from=build --chown=65532:65532 /out/state /var/lib/gl-signerd
# gl-signerd takes its state directory from $STATE_DIRECTORY and the
# passphrase from $CREDENTIALS_DIRECTORY/passphrase, as under systemd.
ENV STATE_DIRECTORY=/var/lib/gl-signerd \
    CREDENTIALS_DIRECTORY=/run/secrets
VOLUME ["/var/lib/gl-signerd"]
USER 65532:65532
# SIGTERM (docker stop) stops it cleanly within 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/gl-signerd"]
CMD ["run"]
