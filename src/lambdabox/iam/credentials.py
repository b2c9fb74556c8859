"""A user's credentials other than access keys, which do not exist here: MFA devices, signing
certificates, SSH public keys, service-specific credentials and console passwords (login profiles).

Terraform and the AWS CLI list them before deleting a user, so each list answers empty and
GetLoginProfile answers NoSuchEntity, as AWS does for a user without a password, once the user
is known to exist. Without a UserName they are about the caller (`caller.py`).
"""

from __future__ import annotations

from lambdabox.aws.context import RequestContext
from lambdabox.iam import paging
from lambdabox.iam.base import IamOperations, Params, Result
from lambdabox.iam.caller import subject_user
from lambdabox.iam.errors import no_login_profile


class CredentialOperations(IamOperations):
    """ListMFADevices … GetLoginProfile."""

    async def _check_user(self, ctx: RequestContext, params: Params) -> str:
        """The name of the user the request is about ("root" for the account's root), else AWS's error."""
        name = params.get("UserName")
        user = await self._store.read(lambda c: subject_user(c, ctx, name))
        return user.name if user is not None else "root"

    async def ListMFADevices(self, ctx: RequestContext, params: Params) -> Result:
        await self._check_user(ctx, params)
        return paging.empty("MFADevices")

    async def ListSigningCertificates(self, ctx: RequestContext, params: Params) -> Result:
        await self._check_user(ctx, params)
        return paging.empty("Certificates")

    async def ListSSHPublicKeys(self, ctx: RequestContext, params: Params) -> Result:
        await self._check_user(ctx, params)
        return paging.empty("SSHPublicKeys")

    async def ListServiceSpecificCredentials(self, ctx: RequestContext, params: Params) -> Result:
        if not params.get("AllUsers"):
            await self._check_user(ctx, params)
        return paging.empty("ServiceSpecificCredentials")

    async def GetLoginProfile(self, ctx: RequestContext, params: Params) -> Result:
        raise no_login_profile(await self._check_user(ctx, params))
