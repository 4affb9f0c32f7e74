"""scikit-learn's estimator protocol without importing scikit-learn.

fastem's runtime needs only NumPy and Numba; these few methods are what
``sklearn.base.clone``, ``Pipeline``, ``GridSearchCV`` and ``check_estimator`` use.
"""

import inspect


class EstimatorBase:
    """``get_params`` / ``set_params`` / ``repr`` from the ``__init__`` signature."""

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values() if p.name != "self")

    def get_params(self, deep=True):
        """Constructor parameters of this estimator, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, name, value)
        return self

    def _fit_or_forget(self, *args):
        """Set the attributes that ``self._fit(*args)`` returns and return self; a fit that
        raises leaves the estimator unfitted, not half-fitted."""
        try:
            fitted = self._fit(*args)
        finally:
            self._forget_fit()  # a fit replaces the whole fitted state, or leaves none
        for name, value in fitted.items():
            setattr(self, name, value)
        return self

    def _forget_fit(self):
        """Drop every fitted attribute (scikit-learn's convention: names ending in "_";
        private fitted state, such as online EM's, is named ``_..._``)."""
        for name in [name for name in vars(self) if name.endswith("_")]:
            delattr(self, name)

    def __repr__(self):
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name)
            if value is default or (_is_scalar(value) and _is_scalar(default) and value == default):
                continue
            changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so scikit-learn is importable here.
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type="density_estimator",
            target_tags=TargetTags(required=False),
            input_tags=InputTags(),
        )


def _is_scalar(value):
    return value is None or isinstance(value, (str, int, float, bool))
