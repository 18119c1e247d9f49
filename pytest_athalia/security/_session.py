"""The security gates of one run: running each scan once, and judging it (cases: :mod:`.security_cases`).

:class:`SecurityScans` is the session's object (fixture ``athalia_security``). Each image is
scanned once with all of the environment's image scanners, then every (image, scanner) test
judges its part; each config file likewise. Results are cached (:mod:`pytest_athalia.security._cache`).

Fail closed: a scan that could not run fails its test with the reason. The one exception is a
vulnerability scan without a DB when the environment does not require one: it is *skipped* with
the how-to, never passed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from .._errors import AthaliaError, ScanError
from ..config._environment import Environment
from ..config._security import ImageScanner
from ..report._artifact import redact_values, write_atomically
from ..report._gate import Gate
from ..report._progress import Progress
from ..report._slo import Verdict
from ._bandit import BanditDriver, fail_on, new_findings, parse_bandit, read_baseline
from ._cache import ScanCache, cache_key
from ._cases import ConfigCase, ImageCase, file_scanners
from ._scan import (
    Finding,
    Kind,
    ScanResult,
    artifact_name,
    check_name,
    describe_findings,
    findings_verdict,
    inconclusive,
    without_unfixed,
)
from ._targets import ConfigFile, DockerImages, ImageTarget
from ._trivy import TrivyDriver, TrivyOptions, VulnerabilityDbMissing, db_howto, default_cache_dir, vulnerability_db
from ._trivy_ignore import IgnoreFile, read_ignore_file
from ._trivy_report import parse_report

__all__ = ["SecurityScans", "Unavailable"]


@dataclass(frozen=True)
class Unavailable:
    """A scan that could not run for a reason the environment may accept (``required`` False)."""

    reason: str
    required: bool


@dataclass
class _ImageScan:
    results: dict[Kind, ScanResult]
    unavailable: dict[str, Unavailable]


class SecurityScans:
    """Runs each scan once per session and turns its results into gate verdicts."""

    def __init__(
        self,
        environment: Environment,
        *,
        trivy: TrivyDriver,
        bandit: BanditDriver,
        images: DockerImages,
        cache: ScanCache,
        progress: Progress,
        redact: Callable[[str], str],
        artifact_dir: Path | None = None,
        today: dt.date | None = None,
        project: str = "",
    ) -> None:
        self.environment = environment
        self.spec = environment.spec.security
        self.trivy = trivy  # the Trivy driver finds its binary on first use
        self._bandit = bandit
        self._images = images
        self._cache = cache
        self._progress = progress
        self._redact = redact
        self._artifact_dir = artifact_dir
        self.today = today or dt.datetime.now(dt.UTC).date()
        self._project = project
        self._image_scans: dict[str, _ImageScan] = {}
        self._file_scans: dict[Path, dict[Kind, ScanResult]] = {}
        self._known_targets: tuple[ImageTarget, ...] = ()

    # -- settings derived from the environment ----------------------------------------------------
    @property
    def options(self) -> TrivyOptions:
        spec = self.spec.trivy
        return TrivyOptions(
            cache_dir=self.environment.resolve(spec.cache_dir) if spec.cache_dir else default_cache_dir(),
            ignore_file=self.environment.resolve(spec.ignore_file) if spec.ignore_file else None,
            ignore_unfixed=spec.ignore_unfixed,
            db_repository=spec.db_repository,
            timeout_seconds=spec.timeout_seconds,
        )

    @functools.cached_property  # an exception is not cached: a bad file fails every scan, not just the first
    def ignore_file(self) -> IgnoreFile | None:
        path = self.options.ignore_file
        return read_ignore_file(path) if path else None

    def _policy_key(self) -> list[object]:
        ignore = self.ignore_file
        return [
            self.trivy.version,
            ignore.cache_key(self.today) if ignore else "no-ignore-file",
            f"ignore_unfixed={self.spec.trivy.ignore_unfixed}",
        ]

    # -- images -------------------------------------------------------------------------------------
    def scan_image(self, target: ImageTarget) -> _ImageScan:
        """All image scanners on ``target`` once; later calls return the same results."""
        scan = self._image_scans.get(target.image)
        if scan is None:
            scan = self._image_scans[target.image] = self._scan_image(target)
        return scan

    def _image_id(self, target: ImageTarget) -> str:
        image_id = self._images.image_id(target.image)
        if image_id is None and target.built and target.service and self.spec.trivy.build_missing:
            missing = tuple(
                sorted({t.service for t in self._built_targets() if self._images.image_id(t.image) is None})
            )
            self._images.build(self.environment, self._project, missing or (target.service,))
            image_id = self._images.image_id(target.image)
        if image_id is None:
            files = " ".join(f"-f {f}" for f in self.environment.compose_files)
            raise ScanError(
                f"athalia: image {target.image} does not exist locally, so it cannot be scanned. Build it first: "
                f"`docker compose {files} build` with the environment's stack.env (running suites/ci builds it), "
                "or set security.trivy.build_missing: true to let the security suite build it."
            )
        return image_id

    def _built_targets(self) -> list[ImageTarget]:
        return [t for t in self._known_targets if t.built and t.service]

    def know_targets(self, targets: Iterable[ImageTarget]) -> None:
        """The session's image targets, so that missing images are built in one compose call."""
        self._known_targets = tuple(targets)

    def _scan_image(self, target: ImageTarget) -> _ImageScan:
        spec = self.spec.trivy
        options = self.options
        image_id = self._image_id(target)
        unavailable: dict[str, Unavailable] = {}
        scanners = list(spec.image_scanners)
        db = vulnerability_db(options.cache_dir)
        if "vuln" in scanners and not db.present and not options.db_repository:
            unavailable["vuln"] = self._db_missing(options.cache_dir)
            scanners.remove("vuln")
        if not scanners:
            return _ImageScan({}, unavailable)
        policy = self._policy_key()

        def key(run: Sequence[str]) -> str:
            fingerprint = db.fingerprint if "vuln" in run else ""
            return cache_key("image", image_id, ",".join(sorted(run)), *policy, fingerprint)

        with self._cache.locked(key(scanners)):
            cached = self._cache.get(key(scanners))
            if cached is not None and set(scanners) <= set(cached):
                self._progress.line(f"trivy: {target.image} ({image_id[7:19]}) unchanged, cached result reused")
                return _ImageScan(cached, unavailable)
            return self._run_image_scan(target, image_id, scanners, unavailable, key)

    def _run_image_scan(
        self,
        target: ImageTarget,
        image_id: str,
        scanners: list[ImageScanner],
        unavailable: dict[str, Unavailable],
        key: Callable[[Sequence[str]], str],
    ) -> _ImageScan:
        spec, options = self.spec.trivy, self.options
        with self._progress.phase(f"trivy scan of {target.image} ({','.join(scanners)})"):
            try:
                text = self.trivy.scan_image(target.image, scanners, options)
            except VulnerabilityDbMissing as exc:
                if "vuln" not in scanners:
                    raise
                unavailable["vuln"] = Unavailable(str(exc), spec.require_vulnerability_db)
                scanners.remove("vuln")
                if not scanners:
                    return _ImageScan({}, unavailable)
                text = self.trivy.scan_image(target.image, scanners, options)
        results = self._masked(parse_report(text, target=target.image, kinds=scanners))
        # Keyed by the scanners that ran: after a fallback without vuln, that is what was scanned.
        self._cache.put(key(scanners), results, about=f"{target.image} {image_id}")
        return _ImageScan(results, unavailable)

    def _db_missing(self, cache_dir: Path) -> Unavailable:
        required = self.spec.trivy.require_vulnerability_db
        why = "required by security.trivy.require_vulnerability_db" if required else "not required in this environment"
        return Unavailable(
            f"no Trivy vulnerability DB in {cache_dir}/db, and Trivy runs offline ({why}). {db_howto(cache_dir)}",
            required,
        )

    def check_image(self, case: ImageCase, gate: Gate) -> Verdict:
        """Judge ``case`` in the calling test: fail, skip (vulnerability DB optional and missing) or pass."""
        check, subject = check_name(case.scanner or "image"), case.image or ""
        if case.problem or case.target is None:
            return gate.apply(inconclusive(check, "the images to scan are unknown", subject), detail=case.problem)
        try:
            scan = self.scan_image(case.target)
        except AthaliaError as exc:
            return gate.apply(inconclusive(check, f"the scan of {case.image} did not run", subject), detail=str(exc))
        missing = scan.unavailable.get(case.scanner)
        if missing is not None:
            if not missing.required:
                pytest.skip(self._redact(f"vulnerability scan of {case.image} skipped: {missing.reason}"))
            return gate.apply(inconclusive(check, "no vulnerability DB", subject), detail=missing.reason)
        return self._judge(gate, scan.results[case.scanner], check)  # type: ignore[index]

    # -- config files ----------------------------------------------------------------------------------
    def scan_file(self, file: ConfigFile, scanners: Sequence[str]) -> dict[Kind, ScanResult]:
        results = self._file_scans.get(file.path)
        if results is None:
            results = self._file_scans[file.path] = self._scan_file(file, scanners)
        return results

    def _scan_file(self, file: ConfigFile, scanners: Sequence[str]) -> dict[Kind, ScanResult]:
        try:
            content = file.path.read_bytes()
        except OSError as exc:
            raise ScanError(
                f"athalia: config file {file.shown} cannot be read ({exc.strerror}); fix the path."
            ) from None
        key = cache_key("file", hashlib.sha256(content).hexdigest(), file.shown, ",".join(sorted(scanners)),
                        *self._policy_key())  # fmt: skip
        with self._cache.locked(key):
            cached = self._cache.get(key)
            if cached is not None and set(scanners) <= set(cached):
                self._progress.line(f"trivy: {file.shown} unchanged, cached result reused")
                return cached
            return self._run_file_scan(file, scanners, key)

    def _run_file_scan(self, file: ConfigFile, scanners: Sequence[str], key: str) -> dict[Kind, ScanResult]:
        with self._progress.phase(f"trivy scan of {file.shown} ({','.join(scanners)})"):
            text = self.trivy.scan_file(file.path, scanners, self.options)
        parsed = parse_report(text, target=file.shown, kinds=scanners)  # type: ignore[arg-type]
        # Trivy names the file relative to the folder it scanned: show it as the environment does.
        results = self._masked(
            {
                kind: dataclasses.replace(
                    result, findings=tuple(dataclasses.replace(f, file=file.shown) for f in result.findings)
                )
                for kind, result in parsed.items()
            }
        )
        self._cache.put(key, results, about=file.shown)
        return results

    def check_config(self, case: ConfigCase, gate: Gate) -> Verdict:
        check, subject = check_name(case.scanner or "config"), case.file.shown if case.file else ""
        if case.problem or case.file is None:
            return gate.apply(inconclusive(check, "the config files to scan are unknown", subject), detail=case.problem)
        scanners = file_scanners(case.file, self.environment)
        try:
            results = self.scan_file(case.file, scanners)
        except AthaliaError as exc:
            return gate.apply(inconclusive(check, f"the scan of {subject} did not run", subject), detail=str(exc))
        return self._judge(gate, results[case.scanner], check)  # type: ignore[index]

    # -- bandit -----------------------------------------------------------------------------------------
    def check_bandit(self, gate: Gate) -> Verdict:
        spec = self.spec.bandit
        if not spec.enabled or not spec.paths:
            pytest.skip(f"no Bandit scan: security.bandit.paths is empty or disabled in {self.environment.path}")
        target = ",".join(spec.paths)
        check = check_name("bandit")
        cwd = self.environment.base_dir
        try:
            baseline = read_baseline(spec, cwd)
            with self._progress.phase(f"bandit on {target}"):
                report = parse_bandit(self._bandit.scan(spec, cwd=cwd), target=target)
            # Compared before masking: the baseline holds the same unmasked texts.
            result = self._masked({"bandit": new_findings(report, baseline) if baseline else report})["bandit"]
        except AthaliaError as exc:
            return gate.apply(inconclusive(check, "bandit did not run", target), detail=str(exc))
        return self._judge(gate, result, check, fail_on(spec.severity), spec.confidence)

    def _masked(self, results: dict[Kind, ScanResult]) -> dict[Kind, ScanResult]:
        """Secrets masked at the boundary: in messages, the artifact and the cache alike (B105 quotes them)."""
        return {kind: _mask_result(result, self._redact) for kind, result in results.items()}

    # -- judging and the artifact ------------------------------------------------------------------------
    def _judge(
        self,
        gate: Gate,
        result: ScanResult,
        check: str,
        failing: Sequence[str] | None = None,
        min_confidence: str = "",
    ) -> Verdict:
        failing = tuple(self.spec.trivy.fail_on if failing is None else failing)
        if self.spec.trivy.ignore_unfixed:
            result = without_unfixed(result)
        notes = list(result.notes)
        if self.ignore_file is not None and result.kind != "bandit":
            note = self.ignore_file.expiry_note(self.today, {f.id for f in result.findings})
            if note:
                notes.append(note)
        result = dataclasses.replace(result, notes=tuple(notes))
        verdict = findings_verdict(result, failing, check=check, min_confidence=min_confidence)
        self._write_artifact(check, result, verdict, failing)
        return gate.apply(verdict, detail=describe_findings(result, failing, min_confidence=min_confidence))

    def _write_artifact(self, check: str, result: ScanResult, verdict: Verdict, failing: Sequence[str]) -> None:
        if self._artifact_dir is None:
            return
        data = {
            "schema": "pytest-athalia/security/1",
            "check": check,
            "target": result.target,
            "kind": result.kind,
            "verdict": verdict.outcome.value,
            "fail_on": list(failing),
            "examined": result.examined,
            "examined_unit": result.examined_unit,
            "notes": list(result.notes),
            "errors": list(result.errors),
            "findings": [finding.as_dict() for finding in result.findings],
        }
        text = json.dumps(redact_values(data, self._redact), indent=2) + "\n"
        write_atomically(self._artifact_dir / f"{artifact_name(result.kind, result.target)}.json", text)


def _mask_result(result: ScanResult, redact: Callable[[str], str]) -> ScanResult:
    def mask(finding: Finding) -> Finding:
        return dataclasses.replace(
            finding, title=redact(finding.title), file=redact(finding.file), target=redact(finding.target)
        )

    return dataclasses.replace(
        result,
        findings=tuple(mask(finding) for finding in result.findings),
        notes=tuple(redact(note) for note in result.notes),
        errors=tuple(redact(error) for error in result.errors),
    )
