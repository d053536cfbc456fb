"""`chatlab image "prompt" [-o file]`: ask for images, show the job's progress, save the files."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from .api import ApiError, Client, error_from_response

POLL_SECONDS = 0.5
WAIT_SECONDS = 600
BAR = 24


def add_parser(commands: Any, run_client: Any) -> None:
    image = commands.add_parser("image", help="make images from a description")
    image.add_argument("prompt", help="what to draw (quote it)")
    image.add_argument("-o", "--output", help="the file to write (with several images: "
                                              "NAME-1.png, NAME-2.png, ...)")
    image.add_argument("--model", help="an image model's slug (default: the server's default)")
    image.add_argument("--size", help="e.g. 1024x1024 (default: the model's first size)")
    image.add_argument("--quality", help="e.g. hd, high (default: the model's first quality)")
    image.add_argument("-n", "--count", type=int, default=1, help="how many images (default 1)")
    image.set_defaults(run=lambda args: cmd_image(args, run_client))


def _progress(job: dict[str, Any], started: float) -> None:
    if not sys.stderr.isatty():
        return
    done = int(BAR * job.get("progress", 0) / 100)
    line = (f"\r[{'#' * done}{'.' * (BAR - done)}] {job.get('progress', 0):3d}% "
            f"{job['status']:<8} {time.monotonic() - started:5.1f}s")
    sys.stderr.write(line)
    sys.stderr.flush()


def cmd_image(args: argparse.Namespace, make_client: Any) -> int:
    body: dict[str, Any] = {"prompt": args.prompt, "count": args.count}
    for field in ("model", "size", "quality"):
        if getattr(args, field):
            body[field] = getattr(args, field)
    started = time.monotonic()
    with make_client() as client:
        job = client._request("POST", "/images/jobs/", json=body)
        while job["status"] in ("queued", "running"):
            _progress(job, started)
            if time.monotonic() - started > WAIT_SECONDS:
                raise ApiError(f"The image job {job['id']} is still {job['status']}; "
                               "look for it later in your gallery.", code="timeout")
            time.sleep(POLL_SECONDS)
            job = client._request("GET", f"/images/jobs/{job['id']}/")
        _progress(job, started)
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        if job["status"] == "failed":
            raise ApiError(f"No image: {job['error']}", code=job.get("error_code") or "failed")
        for path in _save_all(client, job, args.output):
            print(path)
    if job.get("revised_prompt"):
        sys.stderr.write(f"The model drew: {job['revised_prompt']}\n")
    return 0


def _save_all(client: Client, job: dict[str, Any], output: str | None) -> list[Path]:
    images = job["images"]
    paths = []
    for number, image in enumerate(images, start=1):
        extension = image["content_type"].split("/")[-1].replace("jpeg", "jpg")
        if output:
            target = Path(output)
            if len(images) > 1:
                suffix = target.suffix or f".{extension}"
                target = target.with_name(f"{target.stem}-{number}{suffix}")
        else:
            suffix = f"-{number}" if len(images) > 1 else ""
            target = Path(f"chatlab-{job['id'][:8]}{suffix}.{extension}")
        target.write_bytes(_download(client, image["id"]))
        paths.append(target)
    return paths


def _download(client: Client, image_id: str) -> bytes:
    try:
        # A store behind S3 answers with a redirect to a short-lived signed URL; httpx drops the
        # Authorization header when that URL is on another host.
        response = client.http.get(f"/images/{image_id}/file/", follow_redirects=True,
                                   timeout=httpx.Timeout(120.0, connect=10.0))
    except httpx.HTTPError as exc:
        raise ApiError(f"Cannot download the image: {exc or type(exc).__name__}.",
                       code="network") from None
    if response.status_code >= 400:
        raise error_from_response(response)
    return response.content
