"""``/v1/keys`` (admin): create, list and revoke API keys. The secret is shown once, at creation."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from rca.api.deps import Admin, SessionDep
from rca.api.schemas import BODY_ERRORS, ERRORS
from rca.errors import ConflictError
from rca.store import queries
from rca.store.keys import create_api_key
from rca.store.models import ApiKeyCreated, ApiKeyPublic, Role, StoredText

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyIn(BaseModel):
    name: StoredText = Field(min_length=1, max_length=200)
    role: Role


@router.post("", status_code=201, response_model=ApiKeyCreated, responses=BODY_ERRORS)
def post_key(body: KeyIn, session: SessionDep, _: Admin) -> ApiKeyCreated:
    return create_api_key(session, name=body.name, role=body.role)


@router.get("", response_model=list[ApiKeyPublic], responses=ERRORS)
def list_keys(session: SessionDep, _: Admin) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(k) for k in queries.list_api_keys(session)]


@router.delete("/{key_id}", status_code=204, responses=ERRORS)
def delete_key(key_id: str, request: Request, session: SessionDep, _: Admin) -> Response:
    """Revoke a key; 409 for the last admin key in use, which would leave no one to manage keys and rankers
    through the API (`rca keys revoke` on the service's host still does it)."""
    admins = [k.id for k in queries.list_api_keys(session) if k.role is Role.admin]
    if admins == [key_id]:
        raise ConflictError(f"'{key_id}' is the last admin key in use: revoking it leaves no key to manage keys and "
                            "rankers with; create another admin key first (rca keys revoke on the service's host "
                            "revokes it anyway)", field="key_id")
    queries.revoke_api_key(session, key_id=key_id)
    request.app.state.verified_keys.forget(key_id)  # refused from the next request on, not after the TTL
    return Response(status_code=204)
