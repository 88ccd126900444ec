# gl-signerd in a container: a static binary on a distroless base (no
# shell, no package manager), running as the non-root user 65532, with the
# state directory as a volume. deploy/docker/compose.yaml runs it as a
# sidecar; tests/deploy (TestContainerContract) checks this contract without
# a container engine: the static binary as uid 65532 on a read-only root
# with only the state volume writable, init, run against the Greenlight
# emulator, the health check, and SIGTERM.
#
#   docker build --build-arg VERSION="$(git describe --tags --always)" -t gl-signerd .
#   docker volume create gl-signerd
#   # once: create the store and register (words on stdin, passphrase as a file)
#   docker run --rm -i --read-only -v gl-signerd:/var/lib/gl-signerd \
#     -v "$PWD/passphrase:/run/secrets/passphrase:ro" \
#     gl-signerd init --recover
#   docker run --rm --read-only -v gl-signerd:/var/lib/gl-signerd \
#     -v "$PWD/passphrase:/run/secrets/passphrase:ro" \
#     -e GL_CA_CRT="$(cat ca.pem)" -e GL_NOBODY_CRT="$(cat nobody.crt)" \
#     -e GL_NOBODY_KEY="$(cat nobody-key.pem)" gl-signerd register
#   # then the daemon
#   docker run -d --name gl-signerd --read-only --restart on-failure --stop-timeout 15 \
#     -v gl-signerd:/var/lib/gl-signerd \
#     -v "$PWD/passphrase:/run/secrets/passphrase:ro" gl-signerd
#   docker exec gl-signerd gl-signerd ctl status     # what HEALTHCHECK runs
#   docker inspect --format '{{.State.Health.Status}}' gl-signerd
#
# The passphrase file must be readable by uid 65532 and by nobody else
# (chown 65532 passphrase; chmod 0400 passphrase), or be a Compose secret
# with uid "65532" and mode 0400. Greenlight's files may be given as their
# PEM text (as above) or as paths inside the container. Core files are the
# host's business: run with --ulimit core=0 (gl-signerd also turns them off
# for itself).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gl-signerd ./cmd/gl-signerd \
 && mkdir -m 0700 /out/state /out/control

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gl-signerd /usr/local/bin/gl-signerd
COPY --from=build --chown=65532:65532 /out/state /var/lib/gl-signerd
# For a control socket shared with other containers (control.socket =
# /run/gl-signerd/control.sock, a volume of its own): see
# deploy/docker/compose.yaml.
COPY --from=build --chown=65532:65532 /out/control /run/gl-signerd
# gl-signerd takes its state directory from $STATE_DIRECTORY and the
# passphrase from $CREDENTIALS_DIRECTORY/passphrase, as under systemd.
ENV STATE_DIRECTORY=/var/lib/gl-signerd \
    CREDENTIALS_DIRECTORY=/run/secrets
VOLUME ["/var/lib/gl-signerd"]
USER 65532:65532
# SIGTERM (docker stop) stops it cleanly within 10 s.
STOPSIGNAL SIGTERM
# Healthy while the daemon answers on its control socket (exec form: the
# image has no shell). ctl status exits 1 when nothing answers.
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
  CMD ["/usr/local/bin/gl-signerd", "ctl", "status"]
ENTRYPOINT ["/usr/local/bin/gl-signerd"]
CMD ["run"]
