# hebbsearch image for the worker pool (docker-compose.yml): a CUDA PyTorch runtime with hebbsearch
# installed at build time. Entry point `hebbsearch`: `docker run IMAGE worker STUDY_NAME ...`.
#
#   docker build -t hebbsearch .
#   docker build --build-arg BASE_IMAGE=pytorch/pytorch:2.7.1-cuda12.8-cudnn9-runtime -t hebbsearch .
ARG BASE_IMAGE=pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime
FROM ${BASE_IMAGE}

# The base image's torch and torchvision stay as they are (pyproject asks torch>=2.4): the constraints
# file pins them, so pip fails rather than swapping in a different (CPU or other CUDA) build.
COPY pyproject.toml README.md /tmp/hebbsearch-src/
COPY hebbsearch/ /tmp/hebbsearch-src/hebbsearch/
RUN pip list --format=freeze | grep -iE '^(torch|torchvision)==' > /tmp/keep-torch.txt \
 && pip install --no-cache-dir -c /tmp/keep-torch.txt /tmp/hebbsearch-src \
 && rm -rf /tmp/hebbsearch-src /tmp/keep-torch.txt \
 && hebbsearch --help > /dev/null

# Study files; docker-compose.yml bind-mounts ./studies over them, so new files need no rebuild.
COPY studies/ /studies/

# A non-root user (uid 1000 unless --build-arg USER_UID=...; an existing user with that uid is replaced).
ARG USER_UID=1000
RUN existing="$(getent passwd "${USER_UID}" | cut -d: -f1)" \
 && if [ -n "${existing}" ]; then userdel --remove "${existing}" 2> /dev/null || true; fi \
 && useradd --create-home --uid "${USER_UID}" --user-group --shell /bin/bash hebbsearch \
 && mkdir -p /data /artifacts \
 && chown hebbsearch:hebbsearch /data /artifacts

WORKDIR /home/hebbsearch
ENV HEBBSEARCH_DATA_DIR=/data \
    HEBBSEARCH_ARTIFACTS=/artifacts \
    PYTHONUNBUFFERED=1
USER hebbsearch

# `docker compose stop` sends SIGTERM, then SIGKILL after stop_grace_period (see docker-compose.yml).
STOPSIGNAL SIGTERM
ENTRYPOINT ["hebbsearch"]
CMD ["--help"]
