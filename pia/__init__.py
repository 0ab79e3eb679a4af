"""特定個人情報保護評価: the assessments and the parts that feed them.

- :mod:`pia.assessments`: 事務, 評価書 and their versions, しきい値判断, 見直し (annual_review),
  the change table, the checklist and the procedure's next step;
- :mod:`pia.inventory`: the システム台帳;
- :mod:`pia.review`: 第三者点検;
- :mod:`pia.publication`: the PDF and what is stored on publishing.

The modules at this level are shared and pure: the form schemas (:mod:`pia.schema`), the
diff of two documents (:mod:`pia.diff`), the しきい値判断 rules (:mod:`pia.threshold`) and
the hooks the parts register (:mod:`pia.procedure`). Layers: this level <- assessments <-
inventory, review <- publication (``tests/common/test_layers.py``).
"""

from __future__ import annotations


def init_app(app) -> None:
    from pia import assessments, inventory, publication, review

    # in this order: the publication's publish hook runs after the inventory's snapshot
    for part in (assessments, inventory, review, publication):
        part.init_app(app)
