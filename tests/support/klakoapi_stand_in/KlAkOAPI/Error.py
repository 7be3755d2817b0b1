"""The exceptions of the stand-in (see the package docstring): the names and attributes KlAkOAPI has."""


class KlAkBaseError(Exception):
    def __init__(self, data=""):
        super().__init__(data)
        self.data = data


class KlAkError(KlAkBaseError):
    """A PxgError answered by KSC: ``data`` is the error object; code, subcode and message taken from it."""

    def __init__(self, data=""):
        super().__init__(data)
        fields = data if isinstance(data, dict) else {}
        self.code = fields.get("code")
        self.subcode = fields.get("subcode")
        self.module = fields.get("module")
        self.file = fields.get("file")
        self.line = fields.get("line")
        self.message = fields.get("message")
        self.loc_message = None

    def __str__(self):
        if self.code is None:
            return str(self.data)
        return f"Error code {self.code}" + (f": {self.message}" if self.message else "")


class KlAkResponseError(KlAkBaseError):
    """An HTTP status other than 200: ``data`` is the answer's text."""


class KlAkParamTypeError(KlAkBaseError):
    pass
