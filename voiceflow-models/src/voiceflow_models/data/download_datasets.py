"""Download and prepare real diarization corpora into the layouts the loaders read.

    voiceflow-datasets list
    voiceflow-datasets prepare librispeech --root data [--subset dev-clean --subset test-clean] [--source-dir DIR]
    voiceflow-datasets prepare voxconverse --root data [--source-dir DIR]
    voiceflow-datasets prepare ami --root data [--meetings 4] [--source-dir DIR]

Layouts produced (what ``DiarizationDataModule`` reads with ``data.root=...``):
- LibriSpeech: ``<root>/LibriSpeech/<subset>/<speaker>/<chapter>/*.flac``           (source=librispeech, root=<root>)
- VoxConverse: ``<root>/voxconverse/audio/<dev|test>/*.wav`` + ``rttm/<dev|test>/*.rttm`` (source=rttm)
- AMI:         ``<root>/ami/audio/<meeting>.Mix-Headset.wav`` + ``rttm/<train|dev|test>/*.rttm`` (source=rttm)

``--source-dir`` prepares from archives/files already downloaded (the same file names as the URLs); without it the
files are downloaded (resumable: a ``.part`` file continues with an HTTP Range request). Archives are extracted
safely: members with absolute paths, ``..`` components, links or device files are refused.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tqdm import tqdm

LIBRISPEECH_URL = "https://www.openslr.org/resources/12/{subset}.tar.gz"
LIBRISPEECH_SUBSETS = ("dev-clean", "test-clean", "train-clean-100")
VOXCONVERSE_WAV_URLS = {
    "dev": "https://www.robots.ox.ac.uk/~vgg/data/voxconverse/data/voxconverse_dev_wav.zip",
    "test": "https://www.robots.ox.ac.uk/~vgg/data/voxconverse/data/voxconverse_test_wav.zip",
}
VOXCONVERSE_RTTM_URL = "https://github.com/joonson/voxconverse/archive/refs/heads/master.zip"
VOXCONVERSE_RTTM_ARCHIVE = "voxconverse-master.zip"
AMI_SETUP_URL = "https://github.com/pyannote/AMI-diarization-setup/archive/refs/heads/main.zip"
AMI_SETUP_ARCHIVE = "AMI-diarization-setup-main.zip"
AMI_AUDIO_URL = "https://groups.inf.ed.ac.uk/ami/AMICorpusMirror/amicorpus/{meeting}/audio/{meeting}.Mix-Headset.wav"
AMI_SPLITS = ("train", "dev", "test")


class DatasetError(RuntimeError):
    """A source file is missing or an archive is unsafe/corrupt (the message names the file)."""


@dataclass(frozen=True)
class DatasetInfo:
    """What ``list`` prints about a dataset."""

    name: str
    description: str
    urls: tuple[str, ...]
    layout: str
    subsets: tuple[str, ...] = field(default_factory=tuple)


DATASETS: dict[str, DatasetInfo] = {
    "librispeech": DatasetInfo(
        "librispeech",
        "LibriSpeech ASR corpus (openslr.org/12), single speakers -> simulated conversations",
        tuple(LIBRISPEECH_URL.format(subset=s) for s in LIBRISPEECH_SUBSETS),
        "<root>/LibriSpeech/<subset>/<speaker>/<chapter>/*.flac",
        LIBRISPEECH_SUBSETS,
    ),
    "voxconverse": DatasetInfo(
        "voxconverse",
        "VoxConverse (dev/test wav zips + RTTM repository)",
        (*VOXCONVERSE_WAV_URLS.values(), VOXCONVERSE_RTTM_URL),
        "<root>/voxconverse/{audio,rttm}/<dev|test>/",
        ("dev", "test"),
    ),
    "ami": DatasetInfo(
        "ami",
        "AMI meeting corpus, Mix-Headset audio + pyannote AMI-diarization-setup RTTMs (only_words)",
        (AMI_SETUP_URL, AMI_AUDIO_URL),
        "<root>/ami/audio/<meeting>.Mix-Headset.wav, <root>/ami/rttm/<train|dev|test>/<meeting>.rttm",
        AMI_SPLITS,
    ),
}


# --- download ---------------------------------------------------------------------------------------------------------


def download(url: str, dest: Path, *, progress: bool = True, chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``dest``, resuming a previous ``dest.part`` with an HTTP Range request."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "voiceflow-datasets/1"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    with urllib.request.urlopen(request, timeout=60) as response:
        if offset and response.status != 206:  # server ignored the range: start over
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with (
            part.open("ab" if offset else "wb") as out,
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar,
        ):
            while block := response.read(chunk):
                out.write(block)
                bar.update(len(block))
    if total is not None and part.stat().st_size != total:
        raise DatasetError(f"{dest.name}: incomplete download ({part.stat().st_size} of {total} bytes); run again")
    part.rename(dest)
    return dest


def fetch(name: str, url: str, downloads: Path, source_dir: Path | None, *, progress: bool) -> Path:
    """Local path of archive/file ``name``: from ``source_dir`` when given (must exist), else downloaded."""
    if source_dir is not None:
        candidate = source_dir / name
        if not candidate.exists():
            matches = sorted(source_dir.rglob(name))
            if not matches:
                raise DatasetError(f"{name}: not found in --source-dir {source_dir} (expected the file from {url})")
            candidate = matches[0]
        return candidate
    return download(url, downloads / name, progress=progress)


# --- safe extraction --------------------------------------------------------------------------------------------------


def _safe_member_path(dest: Path, name: str) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise DatasetError(f"unsafe archive member {name!r}: absolute path or '..' component")
    target = (dest / Path(*pure.parts)).resolve() if pure.parts else dest.resolve()
    if not target.is_relative_to(dest.resolve()):
        raise DatasetError(f"unsafe archive member {name!r}: resolves outside {dest}")
    return target


def safe_extract(archive: Path, dest: Path, *, progress: bool = True) -> list[Path]:
    """Extract a .tar.gz/.tgz/.tar or .zip into ``dest``; refuses traversal, links and special files."""
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    name = archive.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    _safe_member_path(dest, member.name)
                    if not (member.isfile() or member.isdir()):
                        raise DatasetError(f"unsafe archive member {member.name!r} in {archive.name}: not a file")
                for member in tqdm(members, desc=f"extract {archive.name}", unit="file", disable=not progress):
                    target = _safe_member_path(dest, member.name)
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    if source is None:
                        raise DatasetError(f"{archive.name}: cannot read member {member.name!r}")
                    with source, target.open("wb") as out:
                        shutil.copyfileobj(source, out)
                    written.append(target)
        except tarfile.TarError as exc:
            raise DatasetError(f"{archive.name}: not a readable tar archive ({exc})") from exc
    elif name.endswith(".zip"):
        try:
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                for info in infos:
                    _safe_member_path(dest, info.filename)
                    mode = (info.external_attr >> 16) & 0o170000
                    if mode not in (0, 0o100000, 0o040000):  # regular file or directory (or no unix mode)
                        raise DatasetError(f"unsafe archive member {info.filename!r} in {archive.name}: not a file")
                for info in tqdm(infos, desc=f"extract {archive.name}", unit="file", disable=not progress):
                    target = _safe_member_path(dest, info.filename)
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as source, target.open("wb") as out:
                        shutil.copyfileobj(source, out)
                    written.append(target)
        except zipfile.BadZipFile as exc:
            raise DatasetError(f"{archive.name}: not a readable zip archive ({exc})") from exc
    else:
        raise DatasetError(f"{archive.name}: unsupported archive type (expected .tar.gz, .tgz, .tar or .zip)")
    return written


def _place(files: list[Path], dest_dir: Path, suffix: str) -> list[Path]:
    """Move the extracted ``*suffix`` files flat into ``dest_dir``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for file in files:
        if file.suffix.lower() == suffix and file.is_file():
            target = dest_dir / file.name
            if target.resolve() != file.resolve():
                shutil.move(str(file), target)
            out.append(target)
    return out


# --- datasets ---------------------------------------------------------------------------------------------------------


def prepare_librispeech(
    root: Path, subsets: list[str], source_dir: Path | None = None, *, progress: bool = True
) -> Path:
    """Extract LibriSpeech subsets into ``<root>/LibriSpeech/<subset>``; returns ``root`` (the loader's root)."""
    for subset in subsets:
        if subset not in LIBRISPEECH_SUBSETS:
            raise DatasetError(f"--subset: LibriSpeech subsets are {', '.join(LIBRISPEECH_SUBSETS)}; got {subset!r}")
        if (root / "LibriSpeech" / subset).is_dir():
            continue
        archive = fetch(
            f"{subset}.tar.gz", LIBRISPEECH_URL.format(subset=subset), root / "downloads", source_dir, progress=progress
        )
        safe_extract(archive, root, progress=progress)
        if not (root / "LibriSpeech" / subset).is_dir():
            raise DatasetError(f"{archive.name}: did not contain LibriSpeech/{subset}/")
    return root


def prepare_voxconverse(
    root: Path, subsets: list[str], source_dir: Path | None = None, *, progress: bool = True
) -> Path:
    """Arrange VoxConverse into ``<root>/voxconverse/{audio,rttm}/<subset>``; returns the corpus root."""
    corpus = root / "voxconverse"
    staging = corpus / "_extract"
    downloads = root / "downloads"
    rttm_archive = fetch(VOXCONVERSE_RTTM_ARCHIVE, VOXCONVERSE_RTTM_URL, downloads, source_dir, progress=progress)
    rttm_files = safe_extract(rttm_archive, staging / "rttm", progress=progress)
    for subset in subsets:
        if subset not in VOXCONVERSE_WAV_URLS:
            raise DatasetError(f"--subset: VoxConverse subsets are dev, test; got {subset!r}")
        url = VOXCONVERSE_WAV_URLS[subset]
        archive = fetch(url.rsplit("/", 1)[1], url, root / "downloads", source_dir, progress=progress)
        wavs = _place(safe_extract(archive, staging / subset, progress=progress), corpus / "audio" / subset, ".wav")
        if not wavs:
            raise DatasetError(f"{archive.name}: contained no .wav files")
        subset_rttms = [f for f in rttm_files if f.parent.name == subset]
        if not _place(subset_rttms, corpus / "rttm" / subset, ".rttm"):
            raise DatasetError(f"{rttm_archive.name}: contained no {subset}/*.rttm files")
    shutil.rmtree(staging, ignore_errors=True)
    return corpus


def prepare_ami(
    root: Path,
    source_dir: Path | None = None,
    *,
    splits: list[str] | None = None,
    meetings: int | None = None,
    progress: bool = True,
) -> Path:
    """Arrange AMI Mix-Headset audio + AMI-diarization-setup RTTMs under ``<root>/ami``; returns the corpus root.

    ``meetings`` limits the number of meetings per split (handy for a quick look). With ``--source-dir`` the wavs
    are looked up recursively there (``<meeting>.Mix-Headset.wav``); meetings without audio are reported and skipped.
    """
    corpus = root / "ami"
    staging = corpus / "_extract"
    setup_archive = fetch(AMI_SETUP_ARCHIVE, AMI_SETUP_URL, root / "downloads", source_dir, progress=progress)
    extracted = safe_extract(setup_archive, staging, progress=progress)
    missing: list[str] = []
    for split in splits or list(AMI_SPLITS):
        if split not in AMI_SPLITS:
            raise DatasetError(f"--subset: AMI splits are {', '.join(AMI_SPLITS)}; got {split!r}")
        lists = [f for f in extracted if f.name == f"{split}.meetings.txt"]
        rttms = {
            f.stem: f for f in extracted if f.suffix == ".rttm" and f.parent.name == split and "only_words" in f.parts
        }
        if not lists:
            raise DatasetError(f"{setup_archive.name}: no lists/{split}.meetings.txt")
        names = [m.strip() for m in lists[0].read_text().split() if m.strip()]
        if meetings is not None:
            names = names[:meetings]
        for meeting in tqdm(names, desc=f"ami {split}", unit="meeting", disable=not progress):
            if meeting not in rttms:
                raise DatasetError(f"{setup_archive.name}: no only_words/rttms/{split}/{meeting}.rttm")
            wav_name = f"{meeting}.Mix-Headset.wav"
            target = corpus / "audio" / wav_name
            if not target.exists():
                try:
                    url = AMI_AUDIO_URL.format(meeting=meeting)
                    found = fetch(wav_name, url, root / "downloads", source_dir, progress=progress)
                except DatasetError:
                    missing.append(meeting)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(found, target)
            (corpus / "rttm" / split).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(rttms[meeting], corpus / "rttm" / split / f"{meeting}.rttm")
    shutil.rmtree(staging, ignore_errors=True)
    if missing:
        print(f"ami: no audio for {len(missing)} meeting(s), skipped: {', '.join(missing[:10])}", file=sys.stderr)
    return corpus


# --- CLI --------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``voiceflow-datasets`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="voiceflow-datasets", description="Download and prepare AMI, LibriSpeech and VoxConverse for training."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show the known datasets, their sources and layouts")
    prep = sub.add_parser("prepare", help="download (or take from --source-dir) and arrange a dataset")
    prep.add_argument("dataset", choices=sorted(DATASETS))
    prep.add_argument("--root", type=Path, default=Path("data"), help="data root (default: ./data)")
    prep.add_argument(
        "--source-dir", type=Path, default=None, help="prepare from already-downloaded archives here (no download)"
    )
    prep.add_argument(
        "--subset",
        action="append",
        default=None,
        help="subset/split to prepare, repeatable (librispeech default: dev-clean test-clean; voxconverse: dev test; "
        "ami: train dev test)",
    )
    prep.add_argument("--meetings", type=int, default=None, help="ami: at most this many meetings per split")
    prep.add_argument("--no-progress", action="store_true", help="disable progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 on a dataset error, with the reason on stderr)."""
    args = build_parser().parse_args(argv)
    if args.command == "list":
        for info in DATASETS.values():
            print(f"{info.name}: {info.description}\n  layout: {info.layout}\n  subsets: {', '.join(info.subsets)}")
            for url in info.urls:
                print(f"  source: {url}")
        return 0
    progress = not args.no_progress
    if args.source_dir is not None and not args.source_dir.is_dir():
        print(f"--source-dir: not a directory: {args.source_dir}", file=sys.stderr)
        return 2
    handlers: dict[str, Callable[[], Path]] = {
        "librispeech": lambda: prepare_librispeech(
            args.root, args.subset or ["dev-clean", "test-clean"], args.source_dir, progress=progress
        ),
        "voxconverse": lambda: prepare_voxconverse(
            args.root, args.subset or ["dev", "test"], args.source_dir, progress=progress
        ),
        "ami": lambda: prepare_ami(
            args.root, args.source_dir, splits=args.subset, meetings=args.meetings, progress=progress
        ),
    }
    try:
        out = handlers[args.dataset]()
    except (DatasetError, OSError) as exc:
        print(f"voiceflow-datasets: {exc}", file=sys.stderr)
        return 2
    print(f"prepared {args.dataset} at {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
