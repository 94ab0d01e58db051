"""The bar API: /v1/bar/, docs at /v1/bar/docs."""

from flask import Blueprint
from flask_restx import Resource

from ..api import views
from ..api.crud_docs import CrudDocs
from ..api.feature_api import FeatureApi
from .models import BarModel

blueprint = Blueprint("bar", __name__)
api = FeatureApi(
    blueprint,
    "bar",
    title="Bar API",
    version="1.0",
    description="Bars, stored in Redis.",
)
ns = api.namespace("bar", path="/bar", description="Core operations on Bar resources")
docs = CrudDocs(ns, BarModel, "Bar")


@ns.route("/")
class BarList(Resource):
    @docs.list
    def get(self):
        """List bars, oldest first"""
        return views.list_records(BarModel)

    @docs.create
    def post(self):
        """Create a bar"""
        return views.create(BarModel)


@ns.route("/<string:id>")
@ns.param("id", "The bar's id (uuid4 hex)", type="string", pattern="^[0-9a-f]{32}$")
class Bar(Resource):
    @docs.get
    def get(self, id):
        """Get a bar"""
        return views.get(BarModel, id)

    @docs.replace
    def put(self, id):
        """Replace a bar's writable fields"""
        return views.replace(BarModel, id)

    @docs.patch
    def patch(self, id):
        """Change some of a bar's fields (JSON Merge Patch)"""
        return views.patch(BarModel, id)

    @docs.delete
    def delete(self, id):
        """Delete a bar"""
        return views.delete(BarModel, id)
