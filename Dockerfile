FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY swarmstream ./swarmstream
COPY streams ./streams
COPY producers ./producers
COPY consumers ./consumers
RUN pip install --no-cache-dir .
ENTRYPOINT ["swarmstream"]
