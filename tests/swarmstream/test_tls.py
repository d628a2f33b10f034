"""Kafka over TLS: our aiokafka clients and a faust worker, against the embedded broker behind TLS."""

from __future__ import annotations

import pytest

from producers.personas import personas
from producers.requests import random_requests
from streams.app import create_app
from swarmstream.runtime.broker import EmbeddedBroker
from swarmstream.runtime.process import free_port
from swarmstream.settings import Settings
from swarmstream.transport import BrokerUnavailable, ensure_topics
from tests.pipeline import RunningPipeline
from tests.tls import self_signed, tls_front

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
async def test_the_pipeline_runs_over_tls_and_refuses_plaintext(settings, start_simulator, tmp_path):
    cert, key = self_signed(tmp_path)
    front = free_port()
    with EmbeddedBroker(advertised_port=front, log_path=tmp_path / "tls-broker.log") as broker:
        tls = settings.model_copy(
            update={
                "bootstrap_servers": broker.bootstrap_servers,
                "security_protocol": "SSL",
                "ssl_cafile": str(cert),
                "llm_base_url": start_simulator("--latency-ms", "5"),
            }
        )
        async with tls_front(front, broker.port, cert, key) as handshakes:
            plaintext = tls.model_copy(update={"security_protocol": "PLAINTEXT"})
            with pytest.raises(BrokerUnavailable):
                await ensure_topics(plaintext)

            requests = list(random_requests(20, agents=5, seed=4))
            async with RunningPipeline(tls) as pipe:  # topics, a worker process, readers, a publisher: all TLS
                await pipe.publisher.publish(tls.agents_topic, personas(5, seed=4))
                await pipe.publisher.publish(tls.requests_topic, requests)
                await pipe.responses.wait_until(lambda got: len(got) >= 20, 120, "20 responses over TLS")
            assert {r.request_id for r in pipe.responses.events} == {r.request_id for r in requests}
            assert len(handshakes) >= 4, "every client connected through the TLS front"


def test_faust_gets_the_same_tls_and_sasl_settings(tmp_path):
    cert, _ = self_signed(tmp_path)
    base = {"bootstrap_servers": "127.0.0.1:1", "data_dir": str(tmp_path / "data"), "ssl_cafile": str(cert)}
    ssl_app = create_app(Settings(**base, security_protocol="SSL")).app
    assert ssl_app.conf.broker_credentials.protocol.name == "SSL"
    sasl_app = create_app(
        Settings(
            **base, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", sasl_username="u", sasl_password="p"
        )
    ).app
    credentials = sasl_app.conf.broker_credentials
    assert (credentials.protocol.name, credentials.mechanism.name) == ("SASL_SSL", "SCRAM_SHA_256")
    assert credentials.username == "u" and credentials.password == "p"
    with pytest.raises(ValueError, match="needs sasl_username and sasl_password"):
        Settings(**base, security_protocol="SASL_PLAINTEXT")
