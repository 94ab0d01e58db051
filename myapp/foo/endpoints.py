"""The foo API: /v1/foo/, docs at /v1/foo/docs."""

from flask import Blueprint
from flask_restx import Resource

from ..api import views
from ..api.crud_docs import CrudDocs
from ..api.feature_api import FeatureApi
from ..api.fields import MAX_ID
from .models import FooModel

blueprint = Blueprint("foo", __name__)
api = FeatureApi(
    blueprint,
    "foo",
    title="Foo API",
    version="1.0",
    description="Foos, stored in SQL.",
)
ns = api.namespace("foo", path="/foo", description="Core operations on Foo resources")
docs = CrudDocs(ns, FooModel, "Foo")


@ns.route("/")
class FooList(Resource):
    @docs.list
    def get(self):
        """List foos, oldest first unless sorted"""
        return views.list_records(FooModel)

    @docs.create
    def post(self):
        """Create a foo"""
        return views.create(FooModel)


@ns.route(f"/<int(min=1, max={MAX_ID}):id>")
@ns.param("id", "The foo's id", type="integer", minimum=1, maximum=MAX_ID)
class Foo(Resource):
    @docs.get
    def get(self, id):
        """Get a foo"""
        return views.get(FooModel, id)

    @docs.replace
    def put(self, id):
        """Replace a foo's writable fields"""
        return views.replace(FooModel, id)

    @docs.patch
    def patch(self, id):
        """Change some of a foo's fields (JSON Merge Patch)"""
        return views.patch(FooModel, id)

    @docs.delete
    def delete(self, id):
        """Delete a foo"""
        return views.delete(FooModel, id)
