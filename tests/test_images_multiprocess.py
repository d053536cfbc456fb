"""Images as they run in production: two daphne processes and a Celery worker on the `images`
queue, on PostgreSQL and Redis. The job runs in the worker; its progress reaches every tab of
the conversation, on either web process, through the Redis channel layer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import require
from tests.e2e_client import Account, ChatSocket, conversation_id_of, sign_up
from tests.fakes.openai_server import Behaviour, FakeOpenAI
from tests.stack import Stack, postgres_available, redis_available, stack

pytestmark = pytest.mark.multiprocess

SETUP = """
from conversations.models import Provider
from imaging.models import ImageModel
provider = Provider.objects.create(name="Fake images", kind="openai", base_url={url!r},
                                   api_key="sk-e2e", timeout=5, max_retries=0)
ImageModel.objects.update(is_default=False)
ImageModel.objects.create(name="GPT Image", slug="gpt-image", provider=provider,
                          model="gpt-image-1", is_default=True)
"""


@dataclass
class Cluster:
    s: Stack
    a: str
    b: str
    account: Account


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory,
            fake_openai_server: FakeOpenAI) -> Iterator[Cluster]:
    require(postgres_available() and redis_available(),
            "multi-process tests need PostgreSQL and Redis")
    with stack(tmp_path_factory.mktemp("images-multiprocess"), postgres=True, redis=True) as s:
        s.shell(SETUP.format(url=fake_openai_server.url))
        s.celery_worker("images-worker", queues="images")
        a, b = s.daphne("web-a"), s.daphne("web-b")
        try:
            yield Cluster(s, a, b, sign_up(a))
        finally:
            print(s.logs())


def finished(frame: dict) -> bool:
    return frame.get("type") == "image" and frame["job"]["status"] in ("done", "failed")


async def test_the_worker_makes_the_image_and_every_tab_sees_it(cluster: Cluster,
                                                                fake_openai_server: FakeOpenAI):
    fake_openai_server.reset()
    fake_openai_server.script_images(Behaviour(ttft=1.5))  # time for the second tab to follow
    asking = await ChatSocket.open(cluster.a, cluster.account, name="a")
    await asking.send({"type": "image", "prompt": "a kite over the dunes", "client_id": "k1",
                       "bot": "demo"})
    first = await asking.until(lambda f: f.get("type") == "image", timeout=20)
    conversation = conversation_id_of(first)
    assert first[-1]["ref"] == "k1" and first[-1]["job"]["status"] in ("queued", "running")
    watching = await ChatSocket.open(cluster.b, cluster.account, conversation, name="b")
    await watching.barrier()
    try:
        done_a = (await asking.until(finished, timeout=30))[-1]["job"]
        done_b = (await watching.until(finished, timeout=30))[-1]["job"]
    finally:
        await asking.close()
        await watching.close()
    assert done_a["status"] == "done", done_a
    assert done_b["id"] == done_a["id"] and done_b["status"] == "done"
    assert fake_openai_server.image_requests[-1]["body"]["model"] == "gpt-image-1"
    # Stored by the worker, served by either web process to the owner only.
    url = done_a["images"][0]["url"]
    cookies = {"sessionid": cluster.account.sessionid}
    for base in (cluster.a, cluster.b):
        answer = httpx.get(base + url, cookies=cookies)
        assert answer.status_code == 200 and answer.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert httpx.get(cluster.b + url).status_code == 404
