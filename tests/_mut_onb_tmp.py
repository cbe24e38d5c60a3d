import os
import numpy as np
import pytest
import tests.test_onboarding as T
from tests.test_onboarding import (test_every_registration_loaded_and_task_routed, test_reference_files_outcomes,  # noqa
    test_region_tree_holds_exactly_the_loaded_grids, test_maps_show_the_loaded_polygons, test_api_figures_equal_pandas,
    test_region_page_drills_to_village_and_grid, test_tasks_page_shows_the_pushed_tasks, test_wall_equals_pandas,
    test_second_grid_version_removes_and_renames_without_losing_entities, served, pages)

MUT = os.environ["MUT"]

@pytest.fixture(scope="module", params=["chdb"])
def ob(request, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        if MUT == "route":
            from etl.ingest import transform
            real = transform.route
            mp.setattr(transform, "route", lambda d, p, duty, ind=None: real(d, p, "city_regulator"))
        elif MUT == "outside":
            from etl.reference import geometry
            mp.setattr(geometry, "outside_share", lambda p, g: (np.zeros(len(g)), np.full(len(g), "", dtype=object)))
        elif MUT == "schematic":
            from etl import boundaries
            mp.setattr(boundaries, "use_loaded", lambda shapes, key=None: None)
        elif MUT == "affected":
            from etl.reference import loader
            mp.setattr(loader.ReferenceLoader, "_affected", lambda self, k, info, removed: None)
        return T._onboard(request.param, request, tmp_path_factory.mktemp("mut"))
