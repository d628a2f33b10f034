FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY swarmstream ./swarmstream
COPY streams ./streams
COPY producers ./producers
COPY consumers ./consumers
# The rocksdb extra: the workers keep their profiles table on disk (SWARMSTREAM_TABLE_STORE=rocksdb).
RUN pip install --no-cache-dir ".[rocksdb]" \
    && useradd --system --uid 10001 --home-dir /data swarmstream \
    && mkdir -p /data && chown swarmstream /data
# Not root: a volume mounted at /data takes this directory's owner.
USER swarmstream
ENV SWARMSTREAM_DATA_DIR=/data
ENTRYPOINT ["swarmstream"]
