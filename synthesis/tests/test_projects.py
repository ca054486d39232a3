"""
Projects: a document as chapters of paragraphs, each with its voice, rendered through the jobs engine,
re-rendered one paragraph at a time (and charged only for it), exported with ID3 chapter marks and as
chapter files with a timing file. The studio pages, tenant isolation and bad uploads.

The dialogue is rendered on the real model (what a listener hears: two voices); the plumbing (charges,
stale paragraphs, export clocks) on the fake engine, whose audio is deterministic.
"""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from django.test import Client
from mutagen.id3 import ID3
from mutagen.wave import WAVE

from accounts.models import UsageRecord
from synthesis.jobs import service as jobs
from synthesis.jobs.documents import chapters_from_text
from synthesis.models import Job, Project, ProjectParagraph
from synthesis.services import projects
from synthesis.tests.helpers import make_epub
from voicehub_site.testing import wait_for_function

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "studio"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_media", "fresh_cache")]

BOOK_MD = """# The Harbour

The boats came in at dawn.
The gulls followed them.

"Is that all of them?" she asked.

## The Storm

By noon they were gone.
"""

DIALOGUE = """# Ask

"Where are the boats?"

"Out at sea."
"""


@pytest.fixture
def signed_in(cast):
    client = Client()
    client.force_login(cast.alice)
    return client


def work(rendered):
    """What the job workers do: each job of the render, to the end."""
    for job in rendered.jobs:
        assert jobs.job_work(job_id=str(job.pk), worker="w1") == "succeeded"


def charged(job_ids):
    return UsageRecord.objects.filter(job_chunk__job__in=job_ids).aggregate(total=Sum("characters"))["total"] or 0


def make(cast, text=BOOK_MD, voice="af_heart", markdown=True):
    return projects.project_create(
        organization=cast.org_a,
        title="",
        voice=voice,
        chapters=chapters_from_text(text, markdown=markdown),
        user=cast.alice,
    )


def texts(project):
    return [(p.chapter.title, p.text) for p in projects.paragraphs_in_order(project)]


# -- import -------------------------------------------------------------------------------------


def test_markdown_headings_become_chapters_and_blank_lines_paragraphs(cast):
    project = make(cast)
    assert project.title == "The Harbour"
    assert texts(project) == [
        ("The Harbour", "The Harbour."),
        ("The Harbour", "The boats came in at dawn. The gulls followed them."),
        ("The Harbour", '"Is that all of them?" she asked.'),
        ("The Storm", "The Storm."),
        ("The Storm", "By noon they were gone."),
    ]
    assert [c.index for c in project.chapters.all()] == [0, 1]


def test_the_studio_imports_a_markdown_file_into_a_project(signed_in, cast):
    upload = SimpleUploadedFile("book.md", BOOK_MD.encode(), content_type="text/markdown")
    response = signed_in.post("/studio/projects/", {"voice": "af_heart", "speed": "1.0", "file": upload})
    assert response.status_code == 302
    project = Project.objects.get(organization=cast.org_a)
    assert response["Location"] == f"/studio/projects/{project.id}/"
    assert len(texts(project)) == 5
    page = signed_in.get(response["Location"]).content.decode()
    assert "The gulls followed them." in page and "5 paragraphs" in page and "not rendered" in page
    nav = page[page.index('aria-label="Studio"') :]
    assert 'href="/studio/projects/">Projects</a>' in nav


def test_the_studio_imports_a_plain_text_file_with_chapter_lines_into_a_project(signed_in, cast):
    # As Notepad saves it: a byte-order mark and Windows line ends; "Chapter …" lines start chapters.
    book = "Chapter One: The Harbour\r\n\r\nThe boats came in at dawn.\r\nThe gulls followed them.\r\n\r\nNobody spoke.\r\n\r\n"
    book += "Chapter Two\r\n\r\nBy noon they were gone.\r\n"
    upload = SimpleUploadedFile("book.txt", book.encode("utf-8-sig"), content_type="text/plain")
    response = signed_in.post("/studio/projects/", {"voice": "af_heart", "speed": "1.0", "file": upload})
    assert response.status_code == 302
    project = Project.objects.get(organization=cast.org_a)
    assert response["Location"] == f"/studio/projects/{project.id}/"
    assert project.title == "Chapter One: The Harbour"  # named after its first chapter, as a Markdown file is
    assert texts(project) == [
        ("Chapter One: The Harbour", "Chapter One: The Harbour."),
        ("Chapter One: The Harbour", "The boats came in at dawn. The gulls followed them."),
        ("Chapter One: The Harbour", "Nobody spoke."),
        ("Chapter Two", "Chapter Two."),
        ("Chapter Two", "By noon they were gone."),
    ]
    page = signed_in.get(response["Location"]).content.decode()
    assert "Nobody spoke." in page and "5 paragraphs" in page


def test_an_epub_becomes_one_chapter_per_spine_document_and_one_paragraph_per_block(signed_in, cast):
    upload = SimpleUploadedFile("book.epub", make_epub(), content_type="application/epub+zip")
    response = signed_in.post("/studio/projects/", {"voice": "af_heart", "speed": "1.1", "file": upload})
    assert response.status_code == 302
    project = Project.objects.get(organization=cast.org_a)
    assert project.title == "The Harbour" and project.speed == pytest.approx(1.1)
    assert texts(project) == [
        ("The Harbour", "The Harbour."),
        ("The Harbour", "The boats came in at dawn."),
        ("The Harbour", "Nobody spoke."),
        ("Departure", "Departure."),
        ("Departure", "By noon they were gone."),
    ]


def test_an_empty_project_then_text_added_at_the_end(signed_in, cast):
    response = signed_in.post("/studio/projects/", {"title": "Notes", "voice": "af_heart", "speed": "1.0", "text": ""})
    project = Project.objects.get(organization=cast.org_a, title="Notes")
    assert response.status_code == 302 and texts(project) == []
    signed_in.post(f"/studio/projects/{project.id}/append", {"text": "First words."})
    signed_in.post(f"/studio/projects/{project.id}/append", {"text": "Second words."})
    signed_in.post(f"/studio/projects/{project.id}/append", {"text": "Third words.\n# Part Two\nFourth words."})
    nothing = signed_in.post(f"/studio/projects/{project.id}/append", {"text": "  \n\n "})
    assert nothing.status_code == 400 and "There is no text to add." in nothing.content.decode()
    assert [t for _, t in texts(project)] == [
        "First words.",
        "Second words.",
        "Third words.",
        "Part Two.",
        "Fourth words.",
    ]


@pytest.mark.parametrize(
    "name, content, code",
    [
        ("book.pdf", b"%PDF-1.4", "unsupported_document"),
        ("book.epub", b"not a zip at all", "invalid_document"),
        ("book.txt", b"\xff\xfe\xfa\x00\xd8", "invalid_document"),
        ("book.md", b"   \n\n  ", "empty_text"),
    ],
)
def test_a_bad_upload_is_a_clear_400_and_no_project(signed_in, cast, name, content, code):
    upload = SimpleUploadedFile(name, content)
    response = signed_in.post("/studio/projects/", {"voice": "af_heart", "speed": "1.0", "file": upload})
    assert response.status_code == 400
    html = response.content.decode()
    assert f'data-code="{code}"' in html
    assert not Project.objects.exists()


# -- rendering ----------------------------------------------------------------------------------


@pytest.mark.model
def test_dialogue_each_paragraph_in_its_voice_on_the_real_model_then_one_paragraph_re_rendered(cast, engine):
    project = make(cast, DIALOGUE)
    title, ask, answer = projects.paragraphs_in_order(project)
    answer.voice = "am_michael"
    answer.save()

    rendered = projects.project_render(project=project, user=cast.alice)
    # One job per voice: the narrator's two paragraphs, and the other voice's one.
    assert sorted(job.voice for job in rendered.jobs) == ["af_heart", "am_michael"]
    assert rendered.characters == len(title.text) + len(ask.text) + len(answer.text)
    work(rendered)
    projects.project_sync(project)
    paragraphs = list(projects.paragraphs_in_order(project))
    assert [projects.status_of(p, project) for p in paragraphs] == ["rendered"] * 3
    heard = {}
    for paragraph in paragraphs:
        assert paragraph.rendering.job.voice == projects.voice_of(paragraph, project)
        with paragraph.rendering.audio.open("rb") as handle:
            audio, rate = sf.read(io.BytesIO(handle.read()), dtype="float32")
        assert rate == 24_000 and len(audio) / rate > 0.4
        assert paragraph.audio_seconds == pytest.approx(len(audio) / rate, abs=0.01)
        assert paragraph.words and paragraph.words[0][1] < 0.5  # on the paragraph's own clock
        heard[paragraph.pk] = audio
    # Two voices really differ: the same engine, different sound (the pitch of a male voice is lower).
    assert _pitch(heard[ask.pk]) - _pitch(heard[answer.pk]) > 40
    assert charged([j.pk for j in rendered.jobs]) == rendered.characters

    # Re-render the answer only: one job, charged its characters, nothing else's audio touched.
    before = {p.pk: (p.rendering_id, p.rendering.audio.name) for p in paragraphs}
    answer = ProjectParagraph.objects.get(pk=answer.pk)
    again = projects.project_render(project=project, paragraphs=[answer], user=cast.alice)
    assert len(again.jobs) == 1 and again.characters == len(answer.text)
    work(again)
    projects.project_sync(project)
    assert charged([again.jobs[0].pk]) == len(answer.text)
    after = {p.pk: (p.rendering_id, p.rendering.audio.name) for p in projects.paragraphs_in_order(project)}
    assert after[title.pk] == before[title.pk] and after[ask.pk] == before[ask.pk]
    assert after[answer.pk] != before[answer.pk]

    # The whole as MP3 with chapter marks, decoded: about as long as the paragraphs and gaps.
    export = projects.project_export(project=project, kind="mp3")
    data = export.file.read()
    tags = ID3(io.BytesIO(data))
    assert [f.element_id for f in tags.getall("CHAP")] == ["chp0"]
    decoded, rate = sf.read(io.BytesIO(data), dtype="float32")
    seconds = sum(p.audio_seconds for p in projects.paragraphs_in_order(project)) + 2 * projects.PARAGRAPH_GAP
    assert len(decoded) / rate == pytest.approx(seconds, abs=0.1)


def _pitch(audio: np.ndarray, rate: int = 24_000) -> float:
    """The median fundamental frequency of the voiced frames (autocorrelation), in Hz."""
    frame, pitches = 1024, []
    for start in range(0, len(audio) - frame, frame // 2):
        window = audio[start : start + frame]
        if np.sqrt(np.mean(window**2)) < 0.02:
            continue
        corr = np.correlate(window, window, "full")[frame - 1 :]
        low, high = rate // 400, rate // 70
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] > 0.3 * corr[0]:
            pitches.append(rate / lag)
    return float(np.median(pitches))


def test_re_rendering_one_paragraph_charges_only_its_characters_and_leaves_the_rest(cast, fake_engine):
    project = make(cast)
    first = projects.project_render(project=project, user=cast.alice)
    work(first)
    projects.project_sync(project)
    paragraphs = list(projects.paragraphs_in_order(project))
    files = {p.pk: p.rendering.audio.name for p in paragraphs}
    contents = {p.pk: p.rendering.audio.open("rb").read() for p in paragraphs}
    used = cast.org_a.__class__.objects.get(pk=cast.org_a.pk).characters_used
    assert used == sum(len(p.text) for p in paragraphs)

    target = paragraphs[2]
    projects.paragraph_edit(project=project, paragraph=target, text="Is that every one of them? she asked.", voice="")
    projects.project_sync(project)
    statuses = [projects.status_of(p, project) for p in projects.paragraphs_in_order(project)]
    assert statuses == ["rendered", "rendered", "stale", "rendered", "rendered"]
    with pytest.raises(projects.ProjectError) as refused:
        projects.project_export(project=project, kind="mp3")
    assert refused.value.status == 409 and refused.value.code == "project_not_rendered"

    # "Render" renders only what is new or stale: the edited paragraph.
    again = projects.project_render(project=project, user=cast.alice)
    assert again.paragraphs == 1
    work(again)
    projects.project_sync(project)
    organization = cast.org_a.__class__.objects.get(pk=cast.org_a.pk)
    assert organization.characters_used - used == len("Is that every one of them? she asked.")
    assert charged([j.pk for j in again.jobs]) == len("Is that every one of them? she asked.")
    for paragraph in projects.paragraphs_in_order(project):
        assert projects.status_of(paragraph, project) == "rendered"
        if paragraph.pk != target.pk:
            assert paragraph.rendering.audio.name == files[paragraph.pk]
            assert paragraph.rendering.audio.open("rb").read() == contents[paragraph.pk]
    # Nothing left to render: a second "Render" creates no job and charges nothing.
    assert projects.project_render(project=project, user=cast.alice).jobs == []


def test_the_studio_re_renders_one_paragraph_through_its_button(signed_in, cast, fake_engine):
    project = make(cast)
    work(projects.project_render(project=project, user=cast.alice))
    paragraph = list(projects.paragraphs_in_order(project))[1]
    response = signed_in.post(f"/studio/projects/{project.id}/paragraphs/{paragraph.pk}/render")
    assert response.status_code == 302
    job = Job.objects.filter(organization=cast.org_a).order_by("-created_at").first()
    assert job.characters == len(paragraph.text) and job.source == UsageRecord.Source.STUDIO
    page = signed_in.get(f"/studio/projects/{project.id}/").content.decode()
    assert "rendering…" in page
    # While it renders, a second click is refused, and "Render" leaves it alone: nothing is charged twice.
    twice = signed_in.post(f"/studio/projects/{project.id}/paragraphs/{paragraph.pk}/render")
    assert twice.status_code == 409 and 'data-code="paragraph_rendering"' in twice.content.decode()
    assert projects.project_render(project=project, user=cast.alice).jobs == []
    assert Job.objects.filter(organization=cast.org_a).count() == 2
    jobs.job_work(job_id=str(job.pk), worker="w1")
    page = signed_in.get(f"/studio/projects/{project.id}/").content.decode()
    assert "rendering…" not in page and page.count("data-play-from=") == 5
    audio = signed_in.get(f"/studio/projects/{project.id}/paragraphs/{paragraph.pk}/audio")
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"
    assert b"".join(audio.streaming_content)[:4] == b"RIFF"


def test_editing_a_paragraph_voice_in_the_studio_makes_it_stale(signed_in, cast, fake_engine):
    project = make(cast)
    work(projects.project_render(project=project, user=cast.alice))
    paragraph = list(projects.paragraphs_in_order(project))[2]
    prefix = f"p{paragraph.pk}"
    response = signed_in.post(
        f"/studio/projects/{project.id}/paragraphs/{paragraph.pk}/edit",
        {f"{prefix}-text": paragraph.text, f"{prefix}-voice": "am_michael"},
    )
    assert response.status_code == 302
    projects.project_sync(project)
    paragraph.refresh_from_db()
    assert paragraph.voice == "am_michael" and projects.status_of(paragraph, project) == "stale"
    bad = signed_in.post(
        f"/studio/projects/{project.id}/paragraphs/{paragraph.pk}/edit",
        {f"{prefix}-text": paragraph.text, f"{prefix}-voice": "no_such_voice"},
    )
    assert bad.status_code == 400 and 'data-code="invalid_paragraph"' in bad.content.decode()


def test_a_render_the_quota_cannot_cover_is_refused_whole_with_its_code(signed_in, cast, fake_engine):
    project = make(cast)
    # Two voices, two jobs: the title's (12 characters) fits in what is left, the other voice's does not.
    ProjectParagraph.objects.filter(chapter__project=project).exclude(text="The Harbour.").update(voice="am_michael")
    organization = cast.org_a
    organization.characters_used = organization.character_limit - 20
    organization.save()
    response = signed_in.post(f"/studio/projects/{project.id}/render")
    assert response.status_code == 402
    assert 'data-code="quota_exceeded"' in response.content.decode()
    assert not Job.objects.filter(organization=cast.org_a).exists()  # all or nothing
    assert all(projects.status_of(p, project) == "new" for p in projects.paragraphs_in_order(project))


def test_a_failed_render_says_why_and_the_next_render_tries_again(cast, fake_engine):
    project = make(cast)
    rendered = projects.project_render(project=project, user=cast.alice)
    jobs.job_cancel(job=rendered.jobs[0])
    projects.project_sync(project)
    paragraphs = list(projects.paragraphs_in_order(project))
    assert {projects.status_of(p, project) for p in paragraphs} == {"failed"}
    assert paragraphs[0].error == "The render was cancelled."
    again = projects.project_render(project=project, user=cast.alice)
    assert again.paragraphs == 5
    work(again)
    projects.project_sync(project)
    assert {projects.status_of(p, project) for p in projects.paragraphs_in_order(project)} == {"rendered"}


# -- export ----------------------------------------------------------------------------------------


def _rendered(cast):
    project = make(cast)
    work(projects.project_render(project=project, user=cast.alice))
    projects.project_sync(project)
    return project


def _expected_chapters(project):
    """(start, end) of each chapter on the export's clock, from the paragraphs' own durations."""
    paragraphs = list(projects.paragraphs_in_order(project))
    clock, result = 0.0, []
    for index in sorted({p.chapter.index for p in paragraphs}):
        own = [p.audio_seconds for p in paragraphs if p.chapter.index == index]
        if result:
            clock += projects.CHAPTER_GAP
        start = clock
        clock += sum(own) + projects.PARAGRAPH_GAP * (len(own) - 1)
        result.append((start, clock))
    return result


def test_the_mp3_export_has_chap_frames_at_each_chapter_start(signed_in, cast, fake_engine):
    project = _rendered(cast)
    response = signed_in.get(f"/studio/projects/{project.id}/export.mp3")
    assert response.status_code == 200 and response["Content-Type"] == "audio/mpeg"
    assert 'filename="the-harbour.mp3"' in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    tags = ID3(io.BytesIO(data))
    toc = tags.getall("CTOC")[0]
    chapters = sorted(tags.getall("CHAP"), key=lambda f: f.start_time)
    assert toc.child_element_ids == [c.element_id for c in chapters]
    assert [c.sub_frames["TIT2"].text[0] for c in chapters] == ["The Harbour", "The Storm"]
    expected = _expected_chapters(project)
    assert [(c.start_time, c.end_time) for c in chapters] == [(round(a * 1000), round(b * 1000)) for a, b in expected]
    assert chapters[1].start_time > chapters[0].end_time  # the gap between chapters
    decoded, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert len(decoded) / rate == pytest.approx(expected[-1][1], abs=0.1)


def test_the_wav_export_has_the_chapters_in_its_id3_chunk(signed_in, cast, fake_engine, tmp_path):
    project = _rendered(cast)
    response = signed_in.get(f"/studio/projects/{project.id}/export.wav")
    assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
    path = tmp_path / "export.wav"
    path.write_bytes(b"".join(response.streaming_content))
    chapters = sorted(WAVE(path).tags.getall("CHAP"), key=lambda f: f.start_time)
    expected = _expected_chapters(project)
    assert [(c.start_time, c.end_time) for c in chapters] == [(round(a * 1000), round(b * 1000)) for a, b in expected]
    audio, rate = sf.read(path, dtype="float32")
    assert len(audio) / rate == pytest.approx(expected[-1][1], abs=0.001)


@pytest.mark.parametrize("url, extension", [("export.zip", "mp3"), ("export-wav.zip", "wav")])
def test_the_zip_has_one_file_per_chapter_and_a_timing_file_on_the_whole_clock(
    signed_in, cast, fake_engine, url, extension
):
    project = _rendered(cast)
    response = signed_in.get(f"/studio/projects/{project.id}/{url}")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == [f"001-the-harbour.{extension}", f"002-the-storm.{extension}", "timing.json"]
    timing = json.loads(archive.read("timing.json"))
    expected = _expected_chapters(project)
    assert [(c["start"], c["end"]) for c in timing["chapters"]] == [(round(a, 3), round(b, 3)) for a, b in expected]
    assert [c["file"] for c in timing["chapters"]] == [f"001-the-harbour.{extension}", f"002-the-storm.{extension}"]
    for chapter in timing["chapters"]:
        audio, rate = sf.read(io.BytesIO(archive.read(chapter["file"])), dtype="float32")
        assert len(audio) / rate == pytest.approx(
            chapter["end"] - chapter["start"], abs=0.1 if extension == "mp3" else 0.001
        )
    paragraphs = timing["paragraphs"]
    assert len(paragraphs) == 5 and paragraphs[0]["start"] == 0
    assert all(a["end"] <= b["start"] for a, b in zip(paragraphs, paragraphs[1:]))
    assert paragraphs[3]["start"] == timing["chapters"][1]["start"]
    words = timing["words"]
    assert words and all(a[1] <= b[1] for a, b in zip(words, words[1:]))
    assert words[-1][2] <= timing["duration"] + 0.001


def test_an_unrendered_project_is_a_409_with_a_code(signed_in, cast):
    project = make(cast)
    for url in ("export.mp3", "export.wav", "export.zip"):
        response = signed_in.get(f"/studio/projects/{project.id}/{url}")
        assert response.status_code == 409
        assert 'data-code="project_not_rendered"' in response.content.decode()
    empty = projects.project_create(organization=cast.org_a, title="Empty", voice="af_heart")
    response = signed_in.get(f"/studio/projects/{empty.id}/export.mp3")
    assert response.status_code == 409 and 'data-code="project_empty"' in response.content.decode()


# -- tenants ---------------------------------------------------------------------------------------


def test_another_organizations_project_is_a_404_everywhere(cast, fake_engine):
    project = _rendered(cast)
    paragraph = list(projects.paragraphs_in_order(project))[0]
    outsider = Client()
    outsider.force_login(cast.charlie)
    base = f"/studio/projects/{project.id}"
    p = f"{base}/paragraphs/{paragraph.pk}"
    for method, url in [
        ("get", f"{base}/"),
        ("get", f"{base}/export.mp3"),
        ("get", f"{base}/export.zip"),
        ("get", f"{p}/audio"),
        ("post", f"{base}/render"),
        ("post", f"{base}/settings"),
        ("post", f"{base}/append"),
        ("post", f"{base}/delete"),
        ("post", f"{p}/render"),
        ("post", f"{p}/edit"),
        ("post", f"{p}/delete"),
    ]:
        response = getattr(outsider, method)(url)
        assert response.status_code == 404, (method, url)
        assert "The Harbour" not in response.content.decode()
    listing = outsider.get("/studio/projects/").content.decode()
    assert "The Harbour" not in listing
    assert Project.objects.filter(pk=project.pk).exists() and ProjectParagraph.objects.filter(pk=paragraph.pk).exists()


# -- the page in a browser -------------------------------------------------------------------------


def test_play_from_a_paragraph_plays_it_and_every_later_one_in_order(page, live_asgi, cast, fake_engine):
    project = _rendered(cast)
    paragraphs = list(projects.paragraphs_in_order(project))
    session = Client()
    session.force_login(cast.alice)
    page.context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_asgi.url}])
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    page.goto(f"/studio/projects/{project.id}/")
    assert page.is_hidden("#project-player")
    page.click(f'[data-play-from="{paragraphs[2].pk}"]')
    wait_for_function(page, "() => window.voicehubProject.finished", timeout=60_000)
    played = page.evaluate("() => window.voicehubProject.played")
    assert played == [f"paragraph-{p.pk}" for p in paragraphs[2:]]
    assert page.text_content("#project-now") == "Finished."
    assert page.is_visible("#project-player")
    assert not errors and not page.external_requests
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # for a person to look at; nothing compares it
    page.screenshot(path=str(ARTIFACTS / "project-1280.png"), full_page=True)
