"""Upload (uploaders): describe a set of files once, then drop the files in.

1. ``/upload``: the metadata form (owner school, visibility asked for, the
   controlled vocabularies and a chapter tree). Sending it makes an upload batch
   (:mod:`repo_app.services.uploads`).
2. ``/upload/batches/<id>``: drag-and-drop of many files, each with its progress bar,
   sent by ``tus-js-client`` over the resumable protocol (``/api/v1/uploads``, see
   :mod:`repo_app.services.tus`): an interrupted large file resumes where it stopped,
   after a page reload too. Without JavaScript the same page sends the files in a
   plain form. A refused file says why.
3. ``/upload/csv``: metadata of many resources from one CSV, all rows or none.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional
from wtforms.validators import ValidationError as Invalid

from config.vocabularies import FIELD_KINDS
from repo_app.auth import current_principal
from repo_app.errors import KejianError, PayloadTooLarge, UnsupportedFile
from repo_app.extensions import db
from repo_app.models import Role, UploadBatch, Visibility, parse_id
from repo_app.runtime import runtime
from repo_app.services import uploads
from repo_app.web import nav
from repo_app.web.access import role_required
from repo_app.web.forms import KejianForm, required
from repo_app.web.i18n import vocab_lang
from repo_app.web.labels import VISIBILITY_LABELS

bp = Blueprint("upload", __name__, url_prefix="/upload")

nav.add(
    "upload.index",
    _l("Upload"),
    order=30,
    visible=nav.has_role(Role.UPLOADER, Role.ADMIN),
)

uploader_required = role_required(Role.UPLOADER, Role.ADMIN)

#: Bytes per PATCH of the browser's resumable uploads: a connection that breaks
#: loses at most this much, even behind a proxy that buffers whole requests.
#: ``app.config["KEJIAN_UPLOAD_CHUNK_BYTES"]`` changes it (tests use small ones).
CHUNK_BYTES = 8 * 1024 * 1024

#: The vocabulary fields of the form, with their vocabulary.
VOCAB_FIELDS = FIELD_KINDS


def _vocab_choices(kind: str) -> list[SelectChoice]:
    lang = vocab_lang()
    terms = runtime().vocab.terms(kind)
    return [
        SelectChoice("", _("Not given")),
        *(SelectChoice(t.code, t.label(lang)) for t in terms),
    ]


class BatchForm(KejianForm):
    owner_org = SelectField(_l("Owner school"), validators=[required()])
    visibility = SelectField(
        _l("Who may see it"),
        choices=[SelectChoice(v.value, VISIBILITY_LABELS[v]) for v in Visibility],
        default=Visibility.SCHOOL.value,
        description=_l(
            "Wider than your school is published after a reviewer of that district "
            "or the city approves it."
        ),
    )
    title = StringField(
        _l("Title"),
        validators=[Optional(), Length(max=300)],
        description=_l(
            "Leave it empty to name each resource after its file; with several files "
            "the file's name follows the title."
        ),
    )
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=20_000)]
    )
    keywords = StringField(
        _l("Keywords"),
        validators=[Optional(), Length(max=1000)],
        description=_l("Separate them with commas or semicolons."),
    )
    stage = SelectField(_l("Stage (学段)"), validators=[Optional()])
    grade = SelectField(_l("Grade (年级)"), validators=[Optional()])
    subject = SelectField(_l("Subject (学科)"), validators=[Optional()])
    edition = SelectField(_l("Textbook edition (教材版本)"), validators=[Optional()])
    volume = SelectField(_l("Volume (册)"), validators=[Optional()])
    resource_type = SelectField(_l("Resource type"), validators=[Optional()])
    licence = SelectField(_l("Licence"), validators=[Optional()])
    language = SelectField(_l("Language"), validators=[Optional()])
    chapters = SelectMultipleField(
        _l("Chapters (章节)"),
        coerce=int,
        validators=[Optional()],
        # Every node of every textbook would be a long list of choices: the ids sent
        # are looked up in validate_chapters instead.
        validate_choice=False,
        description=_l("Chapters of the textbook chosen above, where it has them."),
    )

    def fill_choices(self, principal: Any) -> None:
        self.owner_org.choices = [
            SelectChoice(o.code, o.name) for o in uploads.upload_orgs(principal)
        ]
        for name, kind in VOCAB_FIELDS.items():
            getattr(self, name).choices = _vocab_choices(kind)

    def validate_grade(self, field: Any) -> None:
        if field.data and self.stage.data:
            term = runtime().vocab.term("grades", field.data)
            stage = runtime().vocab.term("stages", self.stage.data)
            grades = stage.extra.get("grades", ()) if stage else ()
            if term is not None and grades and field.data not in grades:
                raise Invalid(_("This grade is not in the stage chosen above."))

    def validate_subject(self, field: Any) -> None:
        if field.data and self.stage.data:
            term = runtime().vocab.term("subjects", field.data)
            stages = term.extra.get("stages") if term else None
            if stages and self.stage.data not in stages:
                raise Invalid(
                    _("This subject is not taught in the stage chosen above.")
                )

    def validate_chapters(self, field: Any) -> None:
        found = uploads.chapter_textbooks(list(field.data or []))
        if len(found) != len(set(field.data or [])):
            raise Invalid(_("Some of these chapters do not exist any more."))
        books = set(found.values())
        vocab = runtime().vocab
        for key in sorted(books):
            book = vocab.textbook(key)
            if book is None:
                continue
            if (
                (self.stage.data and book.stage != self.stage.data)
                or (self.subject.data and book.subject != self.subject.data)
                or (self.edition.data and book.edition != self.edition.data)
                or (self.grade.data and self.grade.data not in book.grades)
                or (self.volume.data and book.volume != self.volume.data)
            ):
                raise Invalid(
                    _(
                        "These chapters are from “%(title)s”, which does not match "
                        "the stage, subject, edition, grade or volume chosen above.",
                        title=book.title,
                    )
                )

    def metadata(self) -> dict[str, Any]:
        keywords = (self.keywords.data or "").replace("；", ";").replace("，", ",")
        data: dict[str, Any] = {
            "title": (self.title.data or "").strip(),
            "description": (self.description.data or "").strip(),
            "keywords": [
                k.strip() for k in keywords.replace(",", ";").split(";") if k.strip()
            ][:50],
            "chapters": list(self.chapters.data or []),
        }
        for name in VOCAB_FIELDS:
            data[name] = getattr(self, name).data or None
        return data

    def fill_from(self, batch: UploadBatch) -> None:
        """Show the values of an earlier batch (to change them for the next files)."""
        meta = batch.metadata_
        self.owner_org.data = batch.owner_org.code
        self.visibility.data = batch.visibility.value
        self.title.data = meta.get("title", "")
        self.description.data = meta.get("description", "")
        self.keywords.data = "; ".join(meta.get("keywords") or [])
        self.chapters.data = list(meta.get("chapters") or [])
        for name in VOCAB_FIELDS:
            getattr(self, name).data = meta.get(name) or ""


class FilesForm(KejianForm):
    files = FileField(_l("Files"))


class CsvForm(KejianForm):
    file = FileField(_l("Metadata CSV"), validators=[required()])


@bp.route("/", methods=["GET", "POST"])
@uploader_required
def index() -> Response | str:
    principal = current_principal()
    form = BatchForm()
    form.fill_choices(principal)
    source = parse_id(request.args.get("from"))
    if request.method == "GET" and not form.restored and source is not None:
        form.fill_from(uploads.get_batch(principal, source))
    if form.validate_on_submit():
        batch = uploads.create_batch(
            principal,
            form.owner_org.data or "",
            Visibility(form.visibility.data),
            form.metadata(),
        )
        db.session.commit()
        return redirect(url_for("upload.batch", batch_id=batch.id), code=303)
    return render_template(
        "upload/index.html",
        form=form,
        trees=_trees(),
        chapter_ids=set(form.chapters.data or []),
    )


def _trees() -> list[dict[str, Any]]:
    vocab = runtime().vocab
    shown = []
    for key, roots in uploads.chapter_trees():
        book = vocab.textbook(key)
        if book is None:
            continue
        shown.append({"key": key, "book": book, "roots": roots})
    return shown


@bp.route("/batches/<int:batch_id>", methods=["GET", "POST"])
@uploader_required
def batch(batch_id: int) -> Response | str:
    principal = current_principal()
    batch = uploads.get_batch(principal, batch_id)
    form = FilesForm()
    if form.validate_on_submit():
        # Without JavaScript: the files come in this form, each one on its own.
        _take_plain_files(principal, batch)
        return redirect(url_for("upload.batch", batch_id=batch.id), code=303)
    return render_template(
        "upload/batch.html",
        batch=batch,
        form=form,
        sent=uploads.batch_uploads(batch),
        chunk_bytes=current_app.config.get("KEJIAN_UPLOAD_CHUNK_BYTES", CHUNK_BYTES),
        max_bytes=runtime().settings.max_upload_bytes,
        labels=_batch_labels(batch),
    )


def _take_plain_files(principal: Any, batch: UploadBatch) -> None:
    sent = [f for f in request.files.getlist("files") if f and f.filename]
    if not sent:
        flash(_("Choose at least one file."), "error")
    for storage in sent:
        name = storage.filename or ""
        try:
            resource = uploads.receive_stream(
                principal, batch, storage.stream, name, several=len(sent) > 1
            )
        except (UnsupportedFile, PayloadTooLarge) as exc:
            db.session.rollback()
            flash(_refusal(name, exc), "error")
        else:
            flash(
                _(
                    "%(name)s is stored as “%(title)s”.",
                    name=name,
                    title=resource.title,
                ),
                "ok",
            )


def _refusal(name: str, exc: KejianError) -> str:
    if isinstance(exc, PayloadTooLarge):
        limit = runtime().settings.max_upload_bytes // 2**20
        return _(
            "%(name)s was refused: it is larger than %(limit)d MB.",
            name=name,
            limit=limit,
        )
    reason = exc.message.removeprefix("The file was refused: ").rstrip(".")
    return _("%(name)s was refused: %(reason)s", name=name, reason=reason)


def _batch_labels(batch: UploadBatch) -> list[tuple[str, str]]:
    """(label, value) pairs of what the batch says, in the page's language."""
    vocab = runtime().vocab
    lang = vocab_lang()
    meta = batch.metadata_
    form = BatchForm(formdata=None)
    shown = [
        (str(form.owner_org.label.text), batch.owner_org.name),
        (str(form.visibility.label.text), str(VISIBILITY_LABELS[batch.visibility])),
    ]
    if meta.get("title"):
        shown.append((str(form.title.label.text), meta["title"]))
    for name, kind in VOCAB_FIELDS.items():
        code = meta.get(name)
        term = vocab.term(kind, code) if code else None
        if term is not None:
            shown.append((str(getattr(form, name).label.text), term.label(lang)))
    if meta.get("keywords"):
        shown.append((str(form.keywords.label.text), "、".join(meta["keywords"])))
    return shown


@bp.route("/csv", methods=["GET", "POST"])
@uploader_required
def csv_page() -> Response | str:
    principal = current_principal()
    form = CsvForm()
    outcome = None
    if form.validate_on_submit():
        raw = request.files["file"].read(5 * 1024 * 1024 + 1)
        try:
            if len(raw) > 5 * 1024 * 1024:
                raise _TooBig
            outcome = uploads.apply_csv(principal, raw)
        except _TooBig:
            form.fail("file", _("The CSV is larger than 5 MB; split it."))
        except KejianError as exc:
            db.session.rollback()
            form.fail("file", _csv_message(exc))
        else:
            if not outcome.problems:
                flash(
                    _(
                        "The metadata of %(count)d resources has been changed.",
                        count=outcome.applied,
                    ),
                    "ok",
                )
                return redirect(url_for("upload.csv_page"), code=303)
    return render_template(
        "upload/csv.html",
        form=form,
        outcome=outcome,
        problem_text=_problem_text,
        fields=uploads.CSV_FIELDS,
    )


class _TooBig(Exception):
    pass


def _csv_message(exc: KejianError) -> str:
    problem = exc.details.get("problem")
    if problem == "no_id_column":
        return _("The CSV needs an “id” column with the number of each resource.")
    if problem == "encoding":
        return _("The CSV must be saved as UTF-8 or GBK text.")
    if problem == "too_many_rows":
        return _(
            "The CSV has more than %(max)d rows; split it.", max=uploads.MAX_CSV_ROWS
        )
    return _("The CSV cannot be read.")


def _problem_text(problem: uploads.RowProblem) -> str:
    if problem.kind == "bad_id":
        return _("“%(value)s” is not a resource number.", value=problem.value)
    if problem.kind == "unknown_resource":
        return _(
            "There is no resource %(value)s that you may change.", value=problem.value
        )
    if problem.kind == "unknown_value":
        return _("“%(value)s” is not a known value.", value=problem.value)
    return problem.message


@bp.get("/csv/mine.csv")
@uploader_required
def csv_mine() -> Response:
    body = uploads.csv_of(current_principal())
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        'attachment; filename="kejian-metadata.csv"'
    )
    return response
