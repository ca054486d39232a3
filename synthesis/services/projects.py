"""
Projects: a long document kept as chapters of paragraphs, each paragraph with its own voice and audio.

- Import. A text, Markdown or EPUB document is read into chapters by synthesis.jobs.documents
  (headings start chapters); each chapter's title is its first paragraph (so it is announced,
  as audiobooks do) and its text is split into paragraphs at blank lines (an EPUB's at its blocks).
- Rendering goes through the long-form jobs engine: the paragraphs to render are grouped by
  voice and each group is ONE job whose chapters are the paragraphs. The engine plans, renders,
  charges chunk by chunk and assembles one file per job chapter: that file is the paragraph's audio
  (WAV at the engine's rate, so an export re-encodes nothing twice). Re-rendering one paragraph is a
  job of one chapter: only its characters are charged and no other paragraph's audio is touched.
- A paragraph knows what its audio was made from (a fingerprint of text, voice and speed): edit the
  text or the voice and the audio is stale until rendered again. A job's result is taken into the
  paragraphs when the project is next looked at (project_sync), so workers know nothing of projects.
- Export joins the rendered paragraphs (a pause between paragraphs, a longer one between chapters)
  into one MP3 or WAV with ID3v2 chapter frames (CHAP + CTOC, which podcast and audiobook players
  read), or a ZIP of one file per chapter and a timing file (chapters, paragraphs and words on the
  whole export's clock). Only a project whose every paragraph is rendered and current is exported.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Organization, UsageRecord, User
from synthesis.audio import SOURCE_RATE, StreamEncoder, parse_format
from synthesis.jobs import service as jobs
from synthesis.jobs.documents import Chapter
from synthesis.models import Job, Project, ProjectChapter, ProjectParagraph

# The paragraphs' own audio: the engine's samples as they are, in every plan's formats.
RENDER_FORMAT = "wav"
# Silence in an export: between two paragraphs of a chapter, and before each chapter but the first.
PARAGRAPH_GAP = 0.5
CHAPTER_GAP = jobs.CHAPTER_GAP
EXPORT_FORMATS = {"mp3": "mp3_44100_128", "wav": "wav"}
MAX_PARAGRAPHS = 5000

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


class ProjectError(Exception):
    """A project operation refused: a status, a machine code and a message safe to show."""

    def __init__(self, code: str, status: int, message: str):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


# -- import --------------------------------------------------------------------------------


def paragraphs_of(text: str, *, per_line: bool = False) -> list[str]:
    """The paragraphs of a chapter's body: blocks between blank lines (wrapped lines joined), or each line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = text.split("\n") if per_line else _BLANK_LINE.split(text)
    return [" ".join(block.split()) for block in blocks if block.strip()]


def outline(chapters: list[Chapter], *, per_line: bool = False) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of each chapter: the title, said, is the first paragraph."""
    result = []
    for chapter in chapters:
        body = chapter.text
        said = f"{chapter.title}."
        if chapter.title and body.startswith(said):
            body = body[len(said) :]
        elif chapter.title and body == chapter.title:
            body = ""
        paragraphs = ([said] if chapter.title else []) + paragraphs_of(body, per_line=per_line)
        if paragraphs:
            result.append((chapter.title, paragraphs))
    return result


def _check_size(project: Project | None, adding: int) -> None:
    existing = ProjectParagraph.objects.filter(chapter__project=project).count() if project else 0
    if existing + adding > MAX_PARAGRAPHS:
        raise ProjectError(
            "too_many_paragraphs",
            400,
            f"A project holds at most {MAX_PARAGRAPHS:,} paragraphs; this would make {existing + adding:,}.",
        )


def project_create(
    *,
    organization: Organization,
    title: str,
    voice: str,
    speed: float = 1.0,
    chapters: list[Chapter] = (),
    per_line: bool = False,
    user: User | None = None,
) -> Project:
    """A project of `chapters` (maybe none: an empty project to write in)."""
    parts = outline(list(chapters), per_line=per_line)
    _check_size(None, sum(len(p) for _, p in parts))
    if not title and parts:
        title = parts[0][0] or parts[0][1][0]  # the first heading, else the first paragraph
    with transaction.atomic():
        project = Project.objects.create(
            organization=organization,
            created_by=user,
            voice=voice,
            speed=speed,
            title=(title or "Untitled project")[:200],
        )
        _add(project, parts, start=0)
    return project


def project_append(*, project: Project, chapters: list[Chapter]) -> int:
    """Add text at the end: text before its first heading goes on the last chapter, each heading starts one.

    Returns how many paragraphs were added.
    """
    parts = outline(chapters)
    count = sum(len(p) for _, p in parts)
    _check_size(project, count)
    with transaction.atomic():
        last = project.chapters.order_by("-index").first()
        if parts and last is not None and not parts[0][0] and not chapters[0].title:
            highest = last.paragraphs.aggregate(n=Max("index"))["n"]
            at = 0 if highest is None else highest + 1
            ProjectParagraph.objects.bulk_create(
                ProjectParagraph(chapter=last, index=at + i, text=text) for i, text in enumerate(parts[0][1])
            )
            parts = parts[1:]
        _add(project, parts, start=last.index + 1 if last else 0)
        Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())
    return count


def _add(project: Project, parts: list[tuple[str, list[str]]], *, start: int) -> None:
    for offset, (title, paragraphs) in enumerate(parts):
        chapter = ProjectChapter.objects.create(project=project, index=start + offset, title=title[:200])
        ProjectParagraph.objects.bulk_create(
            ProjectParagraph(chapter=chapter, index=i, text=text) for i, text in enumerate(paragraphs)
        )


# -- state of a paragraph -------------------------------------------------------------------------


def voice_of(paragraph: ProjectParagraph, project: Project) -> str:
    return paragraph.voice or project.voice


def key_of(paragraph: ProjectParagraph, project: Project) -> str:
    """What the paragraph's audio must have been made from to be current."""
    material = json.dumps([paragraph.text, voice_of(paragraph, project), round(project.speed, 4)])
    return hashlib.sha256(material.encode()).hexdigest()


def status_of(paragraph: ProjectParagraph, project: Project) -> str:
    """rendering | rendered | stale | failed | new (call project_sync first)."""
    if paragraph.pending_id:
        return "rendering"
    if paragraph.rendering_id and paragraph.rendered_key:
        return "rendered" if paragraph.rendered_key == key_of(paragraph, project) else "stale"
    return "failed" if paragraph.error else "new"


def paragraphs_in_order(project: Project):
    return (
        ProjectParagraph.objects.filter(chapter__project=project)
        .select_related("chapter", "rendering", "pending__job")
        .order_by("chapter__index", "index")
    )


def project_sync(project: Project) -> None:
    """Take finished renders into their paragraphs: audio and words on success, the reason on failure."""
    pending = list(
        ProjectParagraph.objects.filter(chapter__project=project, pending__isnull=False)
        .select_related("pending__job")
        .exclude(pending__job__status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
    )
    timelines: dict = {}
    for paragraph in pending:
        job_chapter = paragraph.pending
        job = job_chapter.job
        if job.status == Job.Status.SUCCEEDED:
            if job.pk not in timelines:
                timelines[job.pk] = _timeline(job)
            words = _words_of(timelines[job.pk], job_chapter.index)
            # Conditional on the pending render: a concurrent sync (or a newer render) wins, nothing is done twice.
            ProjectParagraph.objects.filter(pk=paragraph.pk, pending=job_chapter).update(
                rendering=job_chapter,
                rendered_key=paragraph.pending_key,
                audio_seconds=job_chapter.audio_seconds,
                words=words,
                pending=None,
                pending_key="",
                error="",
            )
        else:
            reason = job.error_detail or f"The render was {job.status}."
            ProjectParagraph.objects.filter(pk=paragraph.pk, pending=job_chapter).update(
                pending=None, pending_key="", error=reason[:500]
            )


def _timeline(job: Job) -> dict:
    if not job.timing:
        return {}
    try:
        with default_storage.open(job.timing.name, "rb") as handle:
            return json.load(handle)
    except (FileNotFoundError, ValueError):
        return {}


def _words_of(timeline: dict, chapter_index: int) -> list:
    """The words of one job chapter, in seconds from that chapter's start."""
    for chapter in timeline.get("chapters", []):
        if chapter["index"] == chapter_index:
            start, end = chapter["start"], chapter["end"]
            return [
                [w, round(a - start, 3), round(b - start, 3)]
                for w, a, b in timeline.get("words", [])
                if start <= a < end
            ]
    return []


# -- rendering ---------------------------------------------------------------------------------


@dataclass
class Rendered:
    jobs: list[Job] = field(default_factory=list)
    paragraphs: int = 0
    characters: int = 0


def needs_render(paragraph: ProjectParagraph, project: Project) -> bool:
    key = key_of(paragraph, project)
    if paragraph.pending_id:
        return paragraph.pending_key != key  # one under way for what it says now: wait for it
    return paragraph.rendered_key != key or not paragraph.rendering_id


def project_render(
    *,
    project: Project,
    paragraphs: list[ProjectParagraph] | None = None,
    user: User | None = None,
    source: str = UsageRecord.Source.STUDIO,
) -> Rendered:
    """Render `paragraphs` (all those new or stale when None): one job per voice, each paragraph one job chapter.

    Charged as the jobs engine charges: each job's chunks as they are produced, so each paragraph's
    characters, once. All or nothing: raises Refused (synthesis.services.session) when a job is refused
    (voice, quota, rate) and then no job of this render stands; ProjectError 409 for a paragraph named
    that is being rendered already. The project row is locked meanwhile, so two clicks on "Render"
    at once render (and charge) each paragraph once.
    """
    project_sync(project)
    result = Rendered()
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        current = paragraphs_in_order(project)
        if paragraphs is None:
            paragraphs = [p for p in current if needs_render(p, project)]
        else:
            paragraphs = list(current.filter(pk__in=[p.pk for p in paragraphs]))
            if any(p.pending_id and not p.pending.job.is_final for p in paragraphs):
                raise ProjectError(
                    "paragraph_rendering", 409, "This paragraph is being rendered; wait for it to finish."
                )
        groups: dict[str, list[ProjectParagraph]] = {}
        for paragraph in paragraphs:
            groups.setdefault(voice_of(paragraph, project), []).append(paragraph)
        for voice, group in groups.items():
            job = jobs.job_create(
                organization=project.organization,
                chapters=[Chapter(title=f"{p.chapter.index + 1}.{p.index + 1}", text=p.text) for p in group],
                voice_id=voice,
                fmt=parse_format(RENDER_FORMAT),
                speed=project.speed,
                user=user,
                source=source,
                title=f"{project.title} · {len(group)} paragraph{'s' if len(group) != 1 else ''}",
            )
            job_chapters = {c.index: c for c in job.chapters.all()}
            for index, paragraph in enumerate(group):
                ProjectParagraph.objects.filter(pk=paragraph.pk).update(
                    pending=job_chapters[index], pending_key=key_of(paragraph, project), error=""
                )
            result.jobs.append(job)
            result.paragraphs += len(group)
            result.characters += job.characters
    return result


def paragraph_edit(*, project: Project, paragraph: ProjectParagraph, text: str, voice: str) -> ProjectParagraph:
    """New text or voice; the audio (if any) stays, marked stale, until the paragraph is rendered again."""
    text = " ".join(text.split())
    if not text:
        raise ProjectError("empty_text", 400, "A paragraph needs some text; delete it instead.")
    paragraph.text, paragraph.voice = text, voice
    paragraph.save(update_fields=["text", "voice"])
    Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())
    return paragraph


# -- export ------------------------------------------------------------------------------------


class _Writer:
    """An encoder into a temporary file (a book never sits in memory as bytes)."""

    def __init__(self, fmt_name: str):
        self.fmt = parse_format(fmt_name)
        self.encoder = StreamEncoder(self.fmt, source_rate=SOURCE_RATE)
        self.file = tempfile.NamedTemporaryFile(suffix=f".{self.fmt.extension}")  # noqa: SIM115 (closed by the caller)
        self.samples = 0

    @property
    def seconds(self) -> float:
        return self.samples / SOURCE_RATE

    def feed(self, audio: np.ndarray) -> None:
        self.samples += len(audio)
        self.file.write(self.encoder.feed(audio))

    def finish(self):
        self.file.write(self.encoder.finish())
        if self.fmt.container == "wav":
            jobs._fix_wav_sizes(self.file)
        self.file.flush()
        self.file.seek(0)
        return self.file


def export_blockers(project: Project) -> dict:
    """How many paragraphs keep the project from being exported, by reason (empty when it can be)."""
    project_sync(project)
    counts: dict[str, int] = {}
    total = 0
    for paragraph in paragraphs_in_order(project):
        total += 1
        status = status_of(paragraph, project)
        if status != "rendered":
            counts[status] = counts.get(status, 0) + 1
    if not total:
        counts["empty"] = 1
    return counts


def _check_exportable(project: Project) -> None:
    blockers = export_blockers(project)
    if "empty" in blockers:
        raise ProjectError("project_empty", 409, "The project has no paragraphs to export.")
    if blockers:
        said = ", ".join(f"{n} {status}" for status, n in sorted(blockers.items()))
        raise ProjectError(
            "project_not_rendered",
            409,
            f"Every paragraph must be rendered and up to date before the project is exported ({said}). Render the project first.",
        )


def _paragraph_audio(paragraph: ProjectParagraph) -> np.ndarray:
    job_chapter = paragraph.rendering
    if not job_chapter.audio:
        return np.zeros(0, dtype=np.float32)  # nothing in it could be spoken (only symbols)
    with default_storage.open(job_chapter.audio.name, "rb") as handle:
        audio, _ = sf.read(handle, dtype="float32")
    return audio


def _walk(project: Project, outputs) -> dict:
    """Feed every rendered paragraph, with the gaps, to `outputs(chapter)` (the writers for that chapter);
    the timing on the whole export's clock."""
    timing = {"project": str(project.id), "title": project.title, "chapters": [], "paragraphs": [], "words": []}
    clock = 0  # samples of the whole export so far
    paragraph_gap = np.zeros(int(PARAGRAPH_GAP * SOURCE_RATE), dtype=np.float32)
    chapter_gap = np.zeros(int(CHAPTER_GAP * SOURCE_RATE), dtype=np.float32)
    by_chapter: dict[int, list[ProjectParagraph]] = {}
    chapters = {}
    for paragraph in paragraphs_in_order(project):
        by_chapter.setdefault(paragraph.chapter.index, []).append(paragraph)
        chapters[paragraph.chapter.index] = paragraph.chapter
    for number, chapter_index in enumerate(sorted(by_chapter)):
        chapter = chapters[chapter_index]
        whole, own = outputs(number, chapter)
        if clock:
            whole.feed(chapter_gap)
            clock += len(chapter_gap)
        chapter_start = clock
        for position, paragraph in enumerate(by_chapter[chapter_index]):
            if position:
                for writer in (whole, own):
                    if writer:
                        writer.feed(paragraph_gap)
                clock += len(paragraph_gap)
            audio = _paragraph_audio(paragraph)
            start = clock / SOURCE_RATE
            for writer in (whole, own):
                if writer:
                    writer.feed(audio)
            clock += len(audio)
            timing["paragraphs"].append(
                {
                    "chapter": number,
                    "index": paragraph.index,
                    "voice": voice_of(paragraph, project),
                    "text": paragraph.text,
                    "start": round(start, 3),
                    "end": round(clock / SOURCE_RATE, 3),
                }
            )
            timing["words"] += [[w, round(start + a, 3), round(start + b, 3)] for w, a, b in paragraph.words]
        timing["chapters"].append(
            {
                "index": number,
                "title": str(chapter),
                "start": round(chapter_start / SOURCE_RATE, 3),
                "end": round(clock / SOURCE_RATE, 3),
            }
        )
    timing["duration"] = round(clock / SOURCE_RATE, 3)
    return timing


def _tag_chapters(path: str, container: str, title: str, chapters: list[dict]) -> None:
    """ID3v2.4 chapter frames (one CHAP per chapter, one CTOC listing them in order) and the title."""
    from mutagen.id3 import CHAP, CTOC, ID3, TIT2, CTOCFlags
    from mutagen.wave import WAVE

    if container == "wav":
        audio = WAVE(path)
        if audio.tags is None:
            audio.add_tags()
        tags = audio.tags
    else:
        tags = ID3()
    tags.add(TIT2(encoding=3, text=[title]))
    ids = [f"chp{c['index']}" for c in chapters]
    tags.add(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[TIT2(encoding=3, text=[title])],
        )
    )
    for element_id, chapter in zip(ids, chapters):
        tags.add(
            CHAP(
                element_id=element_id,
                start_time=round(chapter["start"] * 1000),
                end_time=round(chapter["end"] * 1000),
                sub_frames=[TIT2(encoding=3, text=[chapter["title"]])],
            )
        )
    if container == "wav":
        audio.save()
    else:
        tags.save(path)


@dataclass
class Export:
    file: object  # an open temporary file, at its start; the caller closes it
    filename: str
    content_type: str


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60].lower() or "project"


def project_export(*, project: Project, kind: str) -> Export:
    """The whole project as one MP3 or WAV with chapter marks, or a ZIP of chapter files and the timing.

    Raises ProjectError 409 unless every paragraph is rendered and current.
    """
    _check_exportable(project)
    name = _slug(project.title)
    if kind in ("mp3", "wav"):
        whole = _Writer(EXPORT_FORMATS[kind])
        timing = _walk(project, lambda number, chapter: (whole, None))
        handle = whole.finish()
        _tag_chapters(handle.name, whole.fmt.container, project.title, timing["chapters"])
        handle.seek(0)
        return Export(handle, f"{name}.{whole.fmt.extension}", whole.fmt.media_type)
    if kind in ("zip", "zip-wav"):
        fmt_name = EXPORT_FORMATS["wav" if kind == "zip-wav" else "mp3"]
        archive = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the caller)
        written: list[str] = []
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
            pending: list = []

            def outputs(number, chapter):
                _flush(pending, zipped, written)
                own = _Writer(fmt_name)
                pending.append((number, chapter, own))
                return _Null(), own

            timing = _walk(project, outputs)
            _flush(pending, zipped, written)
            for chapter, filename in zip(timing["chapters"], written):
                chapter["file"] = filename
            zipped.writestr("timing.json", json.dumps(timing, indent=1))
        archive.seek(0)
        return Export(archive, f"{name}.zip", "application/zip")
    raise ProjectError("unknown_export", 400, "Export as mp3, wav, zip or zip-wav.")


class _Null:
    """The whole file a ZIP export does not write: only its clock matters, and _walk keeps that."""

    def feed(self, audio):
        pass


def _flush(pending: list, zipped: zipfile.ZipFile, written: list[str]) -> None:
    """Finish the chapter file being written and store it in the ZIP, named by its number and title."""
    while pending:
        number, chapter, writer = pending.pop()
        handle = writer.finish()
        filename = f"{number + 1:03d}-{_slug(str(chapter))}.{writer.fmt.extension}"
        zipped.write(handle.name, filename)
        written.append(filename)
        handle.close()
