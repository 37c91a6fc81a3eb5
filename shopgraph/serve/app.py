"""The HTTP API and the web page: a FastAPI app over one ShopGraph (see host.py for how it is held).

Every route is a thin call into the Python API. Endpoints are plain `def` functions, so FastAPI runs
them in its threadpool and a slow request never blocks the others. Errors the client caused are 4xx
with {"detail": "<one line>"}; anything else is a 500 with a one-line detail and the traceback only
in the server's log.

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at run time,
and some of them (K) are local to create_app.
"""

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles

from shopgraph.errors import (NotFoundError, QueryTimeoutError, ReadOnlyError, ShopGraphError, StoreBusyError,
                              StoreError)
from shopgraph.graph.store import Filters
from shopgraph.queries.results import Product
from shopgraph.serve import models as M
from shopgraph.serve.access_log import AccessLog
from shopgraph.serve.api_docs import add_api_docs
from shopgraph.serve.host import GraphHost, WriteBusyError, WritesDisabledError
from shopgraph.serve.limits import RequestGate, SafeJSONResponse, SecurityHeaders, key_problem
from shopgraph.serve.uploads import (THUMBNAIL_SIZES, Thumbnails, UploadTooLargeError, catalog_format, check_image,
                                     thumbnail_size, upload_mapping)
from shopgraph.serve.views import evidence_out, facets, hit_out, jsonable, product_out

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
ERRORS = {"4XX": {"model": M.ErrorBody, "description": "the request was refused; detail says why"}}
ID = Annotated[str, Query(min_length=1, max_length=1000, description="product id, e.g. shop_a:A-101100")]
NAME = Annotated[str, Query(min_length=1, max_length=200)]
PRICE = Annotated[float | None, Query(ge=0, allow_inf_nan=False)]
FORM_SLACK = 64 * 1024  # a photo search's form fields and multipart framing beside the image
KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False,
                          description="required for ingest, review decisions and Cypher")


def _status(error: ShopGraphError) -> int:
    """The HTTP status of an error the API raised on purpose."""
    if isinstance(error, UploadTooLargeError):
        return 413
    if isinstance(error, WriteBusyError):
        return 409
    if isinstance(error, (WritesDisabledError, ReadOnlyError)):
        return 403
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, StoreBusyError):
        return 503  # another process kept the database busy: nothing was read, the client may retry
    if isinstance(error, StoreError) and not isinstance(error, QueryTimeoutError):
        return 500  # the database failed on a request we built: our fault, not the client's
    return 400


def _json(model) -> Response:
    """A response model as JSON, serialised once by pydantic (FastAPI would validate and encode the
    returned model again: ~1 ms on a page of results). Non-finite floats become null."""
    return Response(model.model_dump_json(), media_type="application/json")


def _one_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:500] if lines else "error"


def _validation_detail(error: RequestValidationError) -> str:
    first = error.errors()[0] if error.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "request"
    return _one_line(f"{where}: {first.get('msg', 'invalid value')}")


def create_app(host: GraphHost, *, warm_up: bool = True) -> FastAPI:
    """The app serving host's graph: the API under /api, the page at /, the schema at /openapi.json,
    its interactive docs at /docs (served locally, see api_docs.py)."""
    settings = host.settings
    graph = host.graph
    if warm_up:
        host.warm_up()
    thumbnails = Thumbnails(settings.thumbnail_cache)
    image_roots = host.image_roots() if graph is not None else []
    K = Annotated[int, Query(ge=1, le=settings.max_k, description=f"number of results (at most {settings.max_k})")]

    app = FastAPI(title="shopgraph", version=_version(), docs_url=None, redoc_url=None,
                  default_response_class=SafeJSONResponse,
                  description="Search, product pages, matching and review over a shopgraph product graph. "
                              "Writes and Cypher need the X-API-Key header.")
    # Bodies: a catalog upload may be large, a photo search about one image, everything else is small
    # JSON. Keyed routes are refused before their body is read.
    photo_limit = settings.max_image + FORM_SLACK

    def limit_for(method: str, path: str) -> int:
        if path == "/api/ingest":
            return settings.max_body
        if path == "/api/search" and method == "POST":
            return photo_limit
        return settings.max_json

    app.add_middleware(RequestGate, limit_for=limit_for, api_key=settings.api_key,
                       keyed={("POST", "/api/ingest"), ("POST", "/api/review"), ("POST", "/api/cypher")},
                       body_idle=settings.body_idle_timeout, body_total=settings.body_timeout)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)  # added last = outermost: it sees the status the client got

    @app.exception_handler(ShopGraphError)
    def _shopgraph_error(request: Request, error: ShopGraphError):
        status = _status(error)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, error, exc_info=error)
        return SafeJSONResponse({"detail": _one_line(str(error))}, status_code=status)

    @app.exception_handler(RequestValidationError)
    def _validation_error(request: Request, error: RequestValidationError):
        return SafeJSONResponse({"detail": _validation_detail(error)}, status_code=422)

    @app.exception_handler(HTTPException)
    def _http_error(request: Request, error: HTTPException):
        return SafeJSONResponse({"detail": _one_line(str(error.detail))}, status_code=error.status_code,
                                headers=error.headers)

    @app.exception_handler(Exception)
    def _unexpected(request: Request, error: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return SafeJSONResponse({"detail": f"internal error ({type(error).__name__}); see the server log"},
                                status_code=500)

    def require_key(key: Annotated[str | None, Security(KEY_HEADER)] = None) -> None:
        # RequestGate has already checked it before the body was read; this states it in the schema.
        problem = key_problem(key, settings.api_key)
        if problem is not None:
            raise HTTPException(problem[0], problem[1],
                                headers={"WWW-Authenticate": "X-API-Key"} if problem[0] == 401 else None)

    api = APIRouter(prefix="/api", responses=ERRORS)
    keyed = [Depends(require_key)]

    @api.get("/health", response_model=M.Health, summary="Is the server up; which store")
    def health():
        return M.Health(status="ok", store=type(graph.store).__name__,
                        read_only=settings.read_only or bool(getattr(graph.store, "read_only", False)),
                        writes_need_key=True, products=graph.store.count_nodes("Product"),
                        aligned=graph.aligner is not None)

    @api.get("/stats", response_model=dict[str, int], summary="Counts of nodes and relationships")
    def stats():
        return graph.stats()

    def run_search(text, image, k, brand, category, platform, price_min, price_max, rank_by,
                   currency=None, offset=0, sort="relevance") -> M.SearchResponse:
        started = time.perf_counter()
        filters = Filters(brand=tuple(brand) if brand else None, category=category,
                          platform=tuple(platform) if platform else None, price_min=price_min, price_max=price_max,
                          currency=currency)
        hits = graph.search(text=text, image=image, k=k, filters=filters, rank_by=rank_by, offset=offset, sort=sort)
        return M.SearchResponse(results=[hit_out(h) for h in hits], facets=facets(hits),
                                took_ms=round((time.perf_counter() - started) * 1000, 2),
                                no_close_match=hits.no_close_match, total=hits.total, offset=offset, kind=hits.kind)

    @api.get("/search", response_model=M.SearchResponse, summary="Search products by text")
    def search_text(q: Annotated[str, Query(min_length=1, max_length=settings.max_text, description="query text")],
                    k: K = 20, brand: Annotated[list[str] | None, Query(max_length=20)] = None,
                    category: Annotated[str | None, Query(max_length=1000)] = None,
                    platform: Annotated[list[str] | None, Query(max_length=20)] = None,
                    price_min: PRICE = None, price_max: PRICE = None,
                    rank_by: Literal["hybrid", "auto", "fused", "text", "image"] = "hybrid",
                    currency: Annotated[str | None, Query(max_length=3, description="ISO 4217 code")] = None,
                    offset: Annotated[int, Query(ge=0, le=1000, description="results to skip (paging)")] = 0,
                    sort: Literal["relevance", "price_asc", "price_desc"] = "relevance"):
        return _json(run_search(q, None, k, brand, category, platform, price_min, price_max, rank_by, currency,
                                offset, sort))

    @api.post("/search", response_model=M.SearchResponse, summary="Search products by photo (and text)")
    def search_image(image: Annotated[UploadFile, File(description="a photo: JPEG, PNG, WebP, GIF, BMP or TIFF")],
                     q: Annotated[str | None, Form(max_length=settings.max_text)] = None,
                     k: Annotated[int, Form(ge=1, le=settings.max_k)] = 20,
                     brand: Annotated[list[str] | None, Form(max_length=20)] = None,
                     category: Annotated[str | None, Form(max_length=1000)] = None,
                     platform: Annotated[list[str] | None, Form(max_length=20)] = None,
                     price_min: Annotated[float | None, Form(ge=0, allow_inf_nan=False)] = None,
                     price_max: Annotated[float | None, Form(ge=0, allow_inf_nan=False)] = None,
                     rank_by: Annotated[Literal["hybrid", "auto", "fused", "text", "image"], Form()] = "hybrid",
                     currency: Annotated[str | None, Form(max_length=3)] = None,
                     offset: Annotated[int, Form(ge=0, le=1000)] = 0,
                     sort: Annotated[Literal["relevance", "price_asc", "price_desc"], Form()] = "relevance"):
        data = image.file.read(settings.max_image + 1)
        photo = check_image(data, settings.max_image, settings.max_image_pixels)
        return _json(run_search(q if q and q.strip() else None, photo, k, brand, category, platform, price_min,
                                price_max, rank_by, currency, offset, sort))

    @api.get("/product", response_model=M.ProductPage, summary="A product with its graph neighbourhood")
    def product_page(id: ID, similar: Annotated[int, Query(ge=0, le=settings.max_k)] = 8):
        page = graph.neighbourhood(id, similar_k=similar)

        def listing(item) -> M.ListingOut:
            return M.ListingOut(product=product_out(item.product), status=item.status, score=item.score,
                                method=item.method, evidence=evidence_out(item.evidence))

        brand = M.BrandOut(name=page.brand["name"], display_name=page.brand.get("display_name")) if page.brand else None
        return _json(M.ProductPage(
            product=product_out(page.product), brand=brand, category_path=page.category_path,
            same_as=[listing(x) for x in page.same_as], different_from=[listing(x) for x in page.different_from],
            also_bought=[M.Bought(product=product_out(b["product"]), weight=b["weight"]) for b in page.also_bought],
            users=page.users, similar=[hit_out(h) for h in page.similar]))

    @api.get("/image", summary="A product's photo as a JPEG thumbnail",
             responses={200: {"content": {"image/jpeg": {}}, "description": "JPEG"}})
    def product_image(id: ID, size: Annotated[int, Query(ge=32, le=1024, description="longest side in pixels, "
                                                     f"rounded up to one of {', '.join(map(str, THUMBNAIL_SIZES))}")] = 320):
        product = graph.product(id)
        if not product.image_ref or product.image_missing:
            raise HTTPException(404, f"product {id!r} has no image")
        path = graph.image_file(product)
        if path is None:
            raise HTTPException(404, f"product {id!r} has no image")
        path = path.resolve()
        if not any(path.is_relative_to(root) for root in image_roots):
            raise HTTPException(404, f"the image of {id!r} is outside the folders this server serves images from")
        try:
            data = thumbnails.get(str(path), os.path.getmtime(path), thumbnail_size(size))
        except Exception as e:  # moved, deleted, no longer an image, or a decompression bomb: Pillow raises many types
            raise HTTPException(404, f"the image of {id!r} cannot be read ({type(e).__name__})") from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @api.get("/similar", response_model=list[M.Hit], summary="Products most like a product")
    def similar(id: ID, k: K = 10, platform: Annotated[list[str] | None, Query(max_length=20)] = None):
        return [hit_out(h) for h in graph.similar(id, k=k, platform=platform)]

    @api.get("/recommend", response_model=list[M.Hit], summary="Products for a user (needs a trained GNN)")
    def recommend(user: Annotated[str, Query(min_length=1, max_length=1000, description="user id")], k: K = 10):
        return [hit_out(h) for h in graph.recommend(user, k=k)]

    @api.get("/match", response_model=M.MatchResponse, summary="Best listings on a platform for one product")
    def match(id: ID, platform: NAME, k: Annotated[int, Query(ge=1, le=100)] = 20, limit: K = 5):
        proposals = graph.match(id, platform=platform, k=k, limit=limit)
        products = products_by_id([x["dst"] for x in proposals])
        return M.MatchResponse(proposals=[
            M.MatchProposal(src=x["src"], dst=x["dst"], score=x["score"], status=x["status"],
                            evidence=evidence_out(x["evidence"]), product=products.get(x["dst"]),
                            scorer=x.get("scorer"))
            for x in proposals])

    def products_by_id(ids: list[str]) -> dict[str, M.ProductOut]:
        rows = graph.store.get_nodes("Product", list(dict.fromkeys(ids)))
        return {row["id"]: product_out(Product.from_row(row)) for row in rows}

    @api.get("/platforms", response_model=list[str], summary="Names of the platforms in the graph")
    def platforms():
        return [r["name"] for r in graph.cypher("MATCH (s:Platform) RETURN s.name AS name ORDER BY name")]

    @api.get("/review", response_model=M.ReviewQueue, summary="Proposed matches waiting for a person")
    def review_queue(limit: Annotated[int, Query(ge=1, le=500)] = 50):
        from shopgraph.matching.pipeline import review_waiting

        queue = graph.review_queue(limit=limit)
        products = products_by_id([r[end] for r in queue for end in ("src", "dst")])
        return M.ReviewQueue(items=[
            M.ReviewItem(src=r["src"], dst=r["dst"], score=r["score"], src_title=r["src_title"],
                         dst_title=r["dst_title"], evidence=evidence_out(r["evidence"]),
                         src_product=products.get(r["src"]), dst_product=products.get(r["dst"]))
            for r in queue], waiting=review_waiting(graph.store))

    @api.post("/review", response_model=M.ReviewResult, dependencies=keyed,
              summary="Accept or reject a proposed match, or undo that (needs the API key)")
    def review(decision: M.ReviewDecision):
        with host.writing():
            if decision.decision == "undo":
                state = graph.undo_review(decision.src, decision.dst)
            else:
                state = graph.review(decision.src, decision.dst, accept=decision.decision == "accept")
        return M.ReviewResult(src=decision.src, dst=decision.dst, state=state)

    @api.post("/cypher", response_model=M.CypherResponse, dependencies=keyed,
              summary="Read-only Cypher with parameters and a time limit (needs the API key)")
    def cypher(request: M.CypherRequest):
        if len(request.query) > settings.cypher_max_chars:
            raise HTTPException(400, f"the query is {len(request.query):,} characters; the limit is "
                                     f"{settings.cypher_max_chars:,}")
        started = time.perf_counter()
        try:
            rows = graph.cypher(request.query, request.params, timeout=settings.cypher_timeout,
                                max_rows=settings.cypher_max_rows)
        except ReadOnlyError as e:
            reason = str(e).split(" (pass allow_write")[0]
            raise ReadOnlyError(f"{reason}; this endpoint only reads") from None
        except (QueryTimeoutError, StoreBusyError):
            raise
        except StoreError as e:  # the client's query did not parse, bind or run
            raise HTTPException(400, _one_line(str(e))) from None
        except (TypeError, ValueError, OverflowError) as e:  # a parameter value the database cannot take
            raise HTTPException(400, f"a parameter cannot be used: {_one_line(str(e)) or type(e).__name__}") from None
        return M.CypherResponse(rows=[jsonable(r) for r in rows], truncated=rows.truncated,
                                took_ms=round((time.perf_counter() - started) * 1000, 2))

    @api.post("/ingest", response_model=M.IngestResponse, dependencies=keyed,
              summary="Ingest a catalog file with its column mapping (needs the API key)")
    def ingest(file: Annotated[UploadFile, File(description="catalog: CSV, JSONL or Parquet (told apart by content)")],
               mapping: Annotated[str, Form(min_length=1, max_length=100_000,
                                            description="the column mapping as TOML (see README)")]):
        from shopgraph.ingest.mapping import load_mapping

        with host.writing(), tempfile.TemporaryDirectory(prefix="shopgraph-upload-") as tmp:
            try:
                mapping_path = Path(tmp) / "mapping.toml"
                mapping_path.write_text(mapping, encoding="utf-8")
                columns = upload_mapping(load_mapping(mapping_path), settings.image_root)
                head = file.file.read(8192)
                file.file.seek(0)
                kind = catalog_format(head)
                data_path = Path(tmp) / f"catalog.{kind}"
                with open(data_path, "wb") as out:
                    shutil.copyfileobj(file.file, out)
                # Quarantine records and file names carry the upload's own name (made safe there).
                name = Path(file.filename or "").name or data_path.name
                summary = graph.ingest(data_path, columns, progress=False, source_name=name)
            except ShopGraphError as e:  # name the upload, not the temporary folder it sits in
                raise type(e)(str(e).replace(f"{tmp}{os.sep}", "")) from None
        return M.IngestResponse(rows_read=summary.rows_read, products_written=summary.products_written,
                                products_replaced=summary.products_replaced,
                                products_unchanged=summary.products_unchanged, quarantined=summary.quarantined,
                                images_missing=summary.images_missing, seconds=round(summary.seconds, 3),
                                quarantine_files=[Path(p).name for p in summary.quarantine_files],
                                identifiers_written=summary.identifiers_written,
                                attributes_written=summary.attributes_written, notes=dict(summary.notes),
                                warnings=[w.replace(f"{tmp}{os.sep}", "") for w in summary.warnings],
                                brand_merges=list(summary.brand_merges))

    app.include_router(api)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_api_docs(app)
    return app


def _version() -> str:
    from shopgraph import __version__

    return __version__
