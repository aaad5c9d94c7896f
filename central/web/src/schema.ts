// Generated from vigia.central.dashboard.openapi by `npm run api-types` (web-common/scripts/api-types.mjs): do not edit.

export interface paths {
    "/dashboard/api/v1/login": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** log in: sets the vigia_dashboard_session cookie (HttpOnly, Secure, SameSite=Strict) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        username: string;
                        password: string;
                    };
                };
            };
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Session"];
                    };
                };
                /** @description password right, the user has a second factor: no session yet, send a code with the challenge */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["LoginChallenge"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description password login is turned off (single sign-on only) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description too many failed logins (see Retry-After) */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/sso": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** whether single sign-on (OpenID Connect) is offered, its button, whether passwords work */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["SsoInfo"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/sso/login": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** start a single sign-on: 302 to the provider (authorization code, PKCE, state, nonce); sets the sign-in's browser binding cookie */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description to the provider's sign-in page */
                302: {
                    headers: {
                        /** @description the authorization URL */
                        Location?: string;
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the OpenID provider cannot be reached or answered wrongly */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/sso/callback": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** the provider's answer: the ID token checked (signature, issuer, audience, expiry, nonce), the user created or its role updated from the role claim, a session, 303 to the dashboard; audited, refused or not */
        get: {
            parameters: {
                query?: {
                    /** @description the authorization code */
                    code?: string;
                    /** @description the state of the sign-in the dashboard started */
                    state?: string;
                    /** @description the provider's error code, when it refused */
                    error?: string;
                    /** @description its explanation */
                    error_description?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description signed in: the vigia_dashboard_session cookie is set */
                303: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no dashboard role for the account */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the username is taken; a second factor is already on; or the model or rollout is not in a state that allows it (the message says why: a gate-rejected model without override, a rollout not running) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the OpenID provider cannot be reached or answered wrongly */
                502: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/login/totp": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** the second step of a login: the challenge POST login answered (202) and a TOTP code or a recovery code; sets the session cookie (wrong codes count as failed logins) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        challenge: string;
                        /** @description the 6-digit code of the authenticator app, or a recovery code */
                        code: string | unknown | unknown;
                    };
                };
            };
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Session"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description too many failed logins (see Retry-After) */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/me/totp": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** whether the user's logins ask for a TOTP code, and recovery codes left */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["TotpStatus"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/me/totp/enrol": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** start a TOTP enrolment: a new secret as text, otpauth URI and QR code (SVG), shown only now */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["TotpEnrolment"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the username is taken; a second factor is already on; or the model or rollout is not in a state that allows it (the message says why: a gate-rejected model without override, a rollout not running) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/me/totp/confirm": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** turn the second factor on with a first code: the recovery codes, shown only now */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        code: string;
                    };
                };
            };
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["TotpEnabled"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description well-formed, but not acceptable: a code that is not the authenticator's current one, labels without the decision fixed, a box whose corners are swapped, a class the model does not have */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/logout": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** end the session */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description logged out */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            logged_out: boolean;
                        };
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/me": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** the session's user, role and CSRF token */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Session"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/devices": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** every device: online, last seen, its cameras' health, site */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            devices: components["schemas"]["Device"][];
                            online_minutes: number;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/devices/{device_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** one device: its state, metrics roll-ups of the last days, cameras' layouts, commands sent */
        get: {
            parameters: {
                query?: {
                    days?: number;
                };
                header?: never;
                path: {
                    /** @description device id */
                    device_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["DeviceDetail"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/devices/{device_id}/site": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /** put the device in a site (operator) */
        put: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path: {
                    /** @description device id */
                    device_id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description 1 to 64 characters, no control characters */
                        site: string;
                    };
                };
            };
            responses: {
                /** @description saved */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            device_id: string;
                            site: string;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** events across devices, newest first, 50 a page; next page: page = next_page */
        get: {
            parameters: {
                query?: {
                    /** @description 1 to 64 characters, no control characters */
                    device?: string;
                    /** @description 1 to 64 characters, no control characters */
                    site?: string;
                    /** @description 1 to 64 characters, no control characters */
                    camera?: string;
                    /** @description 1 to 64 characters, no control characters */
                    label?: string;
                    /** @description epoch seconds or ISO 8601 with offset (started at or after) */
                    since?: string;
                    /** @description epoch seconds or ISO 8601 with offset (started before) */
                    until?: string;
                    page?: number;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description a page */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            events: components["schemas"]["FleetEvent"][];
                            next_page: number | null;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/events/{device_id}/{event_id}/thumbnail": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** the event's thumbnail (JPEG) from the media bucket */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description device id */
                    device_id: string;
                    /** @description event id (ULID) */
                    event_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description JPEG */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "image/jpeg": unknown;
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/events/{device_id}/{event_id}/clip": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** a presigned link that GETs the event's clip (MP4) from the media bucket for a few minutes */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description device id */
                    device_id: string;
                    /** @description event id (ULID) */
                    event_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            url: string;
                            /** @description epoch seconds */
                            expires_at: number;
                            /** @description bytes */
                            size: number;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/events/{device_id}/{event_id}/reanalysis": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** the edge's box and path beside central's verdict, tracks and rule events (its latest analysis of the event), and the event's jobs */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description device id */
                    device_id: string;
                    /** @description event id (ULID) */
                    event_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["EventReanalysis"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /** analyse the event again (operator); the job already open for it if there is one */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path: {
                    /** @description device id */
                    device_id: string;
                    /** @description event id (ULID) */
                    event_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description queued */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            job_id: string;
                            /** @description false: a job was open already */
                            created: boolean;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/reanalysis/disagreements": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** edge events central did not confirm or labelled otherwise (its latest verdict), and objects the edge missed; newest first, 50 a page */
        get: {
            parameters: {
                query?: {
                    /** @description 1 to 64 characters, no control characters */
                    device?: string;
                    /** @description 1 to 64 characters, no control characters */
                    site?: string;
                    /** @description 1 to 64 characters, no control characters */
                    camera?: string;
                    /** @description 1 to 64 characters, no control characters */
                    label?: string;
                    kind?: "not_confirmed" | "label_differs" | "missed";
                    /** @description epoch seconds or ISO 8601 with offset (started at or after) */
                    since?: string;
                    /** @description epoch seconds or ISO 8601 with offset (started before) */
                    until?: string;
                    page?: number;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            disagreements: components["schemas"]["Disagreement"][];
                            next_page: number | null;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/reanalysis/rates": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** per camera per UTC day, today and the days - 1 before: false-alarm and missed rates */
        get: {
            parameters: {
                query?: {
                    days?: number;
                    /** @description 1 to 64 characters, no control characters */
                    device?: string;
                    /** @description 1 to 64 characters, no control characters */
                    camera?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            days: number;
                            rates: components["schemas"]["CameraRate"][];
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/reanalysis/queue": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** re-analysis jobs by state, the oldest open one's age, the latest failures */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["JobQueue"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/hard-examples": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** frames re-analysis kept for training, newest first, 24 a page */
        get: {
            parameters: {
                query?: {
                    review?: "unreviewed" | "accepted" | "rejected" | "fixed";
                    reason?: "not_confirmed" | "label_differs" | "missed" | "low_confidence";
                    device?: string;
                    camera?: string;
                    page?: number;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            examples: components["schemas"]["HardExample"][];
                            next_page: number | null;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/hard-examples/{example_id}/image": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** the frame, from the media bucket */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description hard example id */
                    example_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the frame */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "image/jpeg": unknown;
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/hard-examples/{example_id}/review": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** accept or reject central's boxes, or fix them with labels (operator) */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path: {
                    /** @description hard example id */
                    example_id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @enum {string} */
                        decision: "accepted" | "rejected" | "fixed";
                        /** @description with fixed, and only then */
                        labels?: {
                            /** @description a class of the model (COCO names) */
                            label: string;
                            /** @description x1, y1, x2, y2 as shares of the frame's width and height */
                            box: [
                                number,
                                number,
                                number,
                                number
                            ];
                        }[];
                    };
                };
            };
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["HardExample"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description well-formed, but not acceptable: a code that is not the authenticator's current one, labels without the decision fixed, a box whose corners are swapped, a class the model does not have */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/alerts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** central alerts: open ones first, newest first (all=1: resolved ones too), with their notifications */
        get: {
            parameters: {
                query?: {
                    all?: 0 | 1;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            alerts: components["schemas"]["ListedAlert"][];
                            open: number;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/alerts/{alert_id}/ack": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** acknowledge an alert: its escalation stops (operator; audited) */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path: {
                    alert_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Acknowledged"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/alerts/ack": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** the acknowledge link of a notification: a page with an Acknowledge button (no login) */
        get: {
            parameters: {
                query: {
                    token: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the page */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description a bad or expired token */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
            };
        };
        put?: never;
        /** acknowledge with a notification's token (no login; audited as `link`): JSON, or the link page's form (answered with a page) */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description the `ack.token` of a notification (or `token` of its link) */
                        token: string;
                    };
                    "application/x-www-form-urlencoded": {
                        /** @description the `ack.token` of a notification (or `token` of its link) */
                        token: string;
                    };
                };
            };
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Acknowledged"];
                        "text/html": string;
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description a bad or expired token (a page for the link's form) */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                        "text/html": string;
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/alerts/push/key": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** central's VAPID public key, for PushManager.subscribe() */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            application_server_key: string;
                        };
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/alerts/push/subscriptions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** subscribe this browser to alert pushes, for the session's user (the same endpoint again replaces it) */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description the push service's URL */
                        endpoint: string;
                        /** @description epoch seconds */
                        expirationTime?: number | null;
                        keys: {
                            p256dh: string;
                            auth: string;
                        };
                    };
                };
            };
            responses: {
                /** @description subscribed */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            id: number;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        /** unsubscribe one of the user's browsers, by endpoint */
        delete: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        endpoint: string;
                    };
                };
            };
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            removed: boolean;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/models": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** every model in the registry, newest first; can_sign: this dashboard may approve */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            models: components["schemas"]["ListedModel"][];
                            can_sign: boolean;
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/models/{model_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** one model, its rollouts and its audit trail (newest first) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    /** @description model id (name-sha256 prefix) */
                    model_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            model: components["schemas"]["Model"];
                            rollouts: components["schemas"]["RolloutSummary"][];
                            audit: components["schemas"]["ModelAudit"][];
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/models/{model_id}/approve": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** sign a candidate with central's model-signing key (admin; audited); one the gate rejected needs override */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path: {
                    /** @description model id (name-sha256 prefix) */
                    model_id: string;
                };
                cookie?: never;
            };
            requestBody?: {
                content: {
                    "application/json": {
                        override: boolean;
                    };
                };
            };
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Model"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the username is taken; a second factor is already on; or the model or rollout is not in a state that allows it (the message says why: a gate-rejected model without override, a rollout not running) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description this dashboard has no model-signing key (vigia central dashboard --ca-dir) */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/models/{model_id}/retire": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** offer the model no more (admin; audited) */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path: {
                    /** @description model id (name-sha256 prefix) */
                    model_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Model"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the username is taken; a second factor is already on; or the model or rollout is not in a state that allows it (the message says why: a gate-rejected model without override, a rollout not running) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/models/{model_id}/rollouts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** roll an approved model out (admin; audited): to devices or a site's devices; canaries by name or percentage first, then waves of wave_size */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path: {
                    /** @description model id (name-sha256 prefix) */
                    model_id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        devices: string[];
                        /** @description 1 to 64 characters, no control characters */
                        site: string;
                        canaries: string[];
                        canary_percent: number;
                        wave_size: number;
                    };
                };
            };
            responses: {
                /** @description started */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Rollout"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the username is taken; a second factor is already on; or the model or rollout is not in a state that allows it (the message says why: a gate-rejected model without override, a rollout not running) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description well-formed, but not acceptable: a code that is not the authenticator's current one, labels without the decision fixed, a box whose corners are swapped, a class the model does not have */
                422: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/rollouts/{rollout_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** a rollout: per device its stage, state, baseline and health; its audit trail */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    rollout_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Rollout"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/rollouts/{rollout_id}/pause": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** pause a running rollout: no later stage starts (admin; audited) */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path: {
                    rollout_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Rollout"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the username is taken; a second factor is already on; or the model or rollout is not in a state that allows it (the message says why: a gate-rejected model without override, a rollout not running) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/rollouts/{rollout_id}/resume": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** run a paused rollout again (admin; audited) */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path: {
                    rollout_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Rollout"];
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no such device or event, or the event has no such media (or no bucket is configured) */
                404: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the username is taken; a second factor is already on; or the model or rollout is not in a state that allows it (the message says why: a gate-rejected model without override, a rollout not running) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/oauth/authorize": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** the app's sign-in page (OAuth2 authorization endpoint) */
        get: {
            parameters: {
                query: {
                    response_type: "code";
                    client_id: "vigia-mobile";
                    redirect_uri: "vigia.app://auth";
                    code_challenge: string;
                    code_challenge_method: "S256";
                    state?: string;
                    scope?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description the page: the login form, or Allow/Deny when signed in */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description back to the app: with the code and state, or an OAuth2 error */
                302: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description a client or redirect URI not registered, or bad fields (no redirect) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /** sign in (username, password) or answer (decision, csrf_token): the code goes to the app */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/x-www-form-urlencoded": {
                        /** @enum {string} */
                        response_type: "code";
                        /**
                         * @description a registered public client
                         * @enum {string}
                         */
                        client_id: "vigia-mobile";
                        /**
                         * @description one of the client's; the app's web build: http://127.0.0.1:PORT/auth
                         * @enum {string}
                         */
                        redirect_uri: "vigia.app://auth";
                        /** @description BASE64URL(SHA-256(code_verifier)) */
                        code_challenge: string;
                        /** @enum {string} */
                        code_challenge_method: "S256";
                        state?: string;
                        scope?: string;
                        username?: string;
                        password?: string;
                        csrf_token?: string;
                        /** @enum {string} */
                        decision?: "allow" | "deny";
                    };
                };
            };
            responses: {
                /** @description the page: the login form, or Allow/Deny when signed in */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description back to the app: with the code and state, or an OAuth2 error */
                302: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description a client or redirect URI not registered, or bad fields (no redirect) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description wrong username or password */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description too many failed logins */
                429: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "text/html": string;
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/counts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** events and alerts per device (and its site) per UTC day, today and the days - 1 before */
        get: {
            parameters: {
                query?: {
                    days?: number;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            days: number;
                            counts: components["schemas"]["DayCount"][];
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** the dashboard's accounts (admin) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            users: components["schemas"]["User"][];
                        };
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        /** create an account (admin) */
        post: {
            parameters: {
                query?: never;
                header: {
                    /** @description the session's CSRF token */
                    "X-CSRF-Token": string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": {
                        /** @description 1 to 64 letters, digits and _ . @ - (starting with a letter or digit) */
                        username: string;
                        password: string;
                        /** @enum {string} */
                        role: "viewer" | "operator" | "admin";
                    };
                };
            };
            responses: {
                /** @description created */
                201: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": {
                            username: string;
                            /** @enum {string} */
                            role: "viewer" | "operator" | "admin";
                        };
                    };
                };
                /** @description malformed input (the message names it) */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the username is taken; a second factor is already on; or the model or rollout is not in a state that allows it (the message says why: a gate-rejected model without override, a rollout not running) */
                409: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description the body is not application/json */
                415: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/live": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** WebSocket (same-origin pages only): JSON LiveMessages, hello first, then events as batches are ingested and devices as they change; the client sends nothing */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description switching protocols */
                101: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["LiveMessage"];
                    };
                };
                /** @description not a WebSocket handshake */
                400: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
                /** @description missing or wrong X-CSRF-Token, or the role is too low */
                403: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/api/v1/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** this document */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description ok */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description no live session */
                401: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Error"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** a redirect to /dashboard/ */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description to /dashboard/ */
                302: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/{path}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** the front end's files (no login: they are the login page); any other path: index.html */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    path: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description a file, or index.html */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
                /** @description the front end is not built */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        Error: {
            error: string;
        };
        Session: {
            username: string;
            /** @enum {string} */
            role: "viewer" | "operator" | "admin";
            csrf_token: string;
            /** @description epoch seconds */
            expires_at: number;
            /** @description an admin who must enrol a second factor before anything else (--admin-totp required) */
            totp_enrolment_required: boolean;
        };
        LoginChallenge: {
            /** @enum {string} */
            second_factor: "totp";
            /** @description for POST /dashboard/api/v1/login/totp, within 5 minutes */
            challenge: string;
        };
        TotpStatus: {
            enabled: boolean;
            /** @description a secret shown, not confirmed yet */
            pending: boolean;
            recovery_codes_left: number;
        };
        TotpEnrolment: {
            secret: string;
            otpauth_uri: string;
            /** @description an SVG document */
            qr_svg: string;
        };
        TotpEnabled: {
            enabled: boolean;
            /** @description shown only now */
            recovery_codes: string[];
        };
        CameraHealth: {
            camera: string;
            /** @description the camera's connection state */
            state: string;
            /** @description epoch seconds */
            since: number;
            last_error: string | null;
            /** @description epoch seconds */
            received_at: number;
        };
        Device: {
            device_id: string;
            site: string | null;
            /** @description the first 8 characters of its identity (null: enrolled before identities were kept) */
            short_id: string | null;
            /** @description the last batch sequence applied */
            high_water: number;
            /** @description epoch seconds */
            enrolled_at: number | null;
            /** @description epoch seconds */
            revoked_at: number | null;
            /** @description epoch seconds */
            last_seen_at: number | null;
            /** @description a batch applied within online_minutes */
            online: boolean;
            cameras: components["schemas"]["CameraHealth"][];
            /** @description the device's latest `metrics` state record (version, backlog, disk), if any */
            metrics: {
                [key: string]: unknown;
            } | null;
        };
        FleetEvent: {
            device_id: string;
            site: string | null;
            id: string;
            camera: string;
            rule: string;
            kind: string;
            zone: string | null;
            label: string;
            alert: boolean;
            max_score: number;
            /** @description epoch seconds */
            started_at: number;
            /** @description epoch seconds */
            ended_at: number | null;
            /** @description epoch seconds */
            received_at: number;
            has_snapshot: boolean;
            /** @description its thumbnail is in central's media bucket */
            has_thumbnail: boolean;
            /** @description its clip is in central's media bucket */
            has_clip: boolean;
        };
        DayCount: {
            /** @description YYYY-MM-DD (UTC) */
            day: string;
            device_id: string;
            site: string | null;
            events: number;
            alerts: number;
        };
        User: {
            username: string;
            /** @enum {string} */
            role: "viewer" | "operator" | "admin";
            /** @description epoch seconds */
            created_at: number;
        };
        SsoInfo: {
            /** @description single sign-on is configured */
            enabled: boolean;
            /** @description the login page's button text */
            button: string | null;
            /** @description POST login (passwords) is accepted */
            password_login: boolean;
        };
        MetricsRollup: {
            /** @description epoch seconds */
            period_end: number;
            /** @description epoch seconds */
            period_start?: number;
            version?: string;
            /** @description the detector's model as configured (a name, sha256 prefix or path) */
            model?: string | null;
            uptime_s?: number;
            /** @description records waiting in the device's outbox */
            backlog?: number;
            /** @description free bytes on the device's data volume */
            disk_free_bytes?: number;
            /** @description per camera, the counts of the period */
            cameras?: {
                [key: string]: {
                    frames_in: number;
                    frames_analysed: number;
                    frames_dropped: number;
                    events: number;
                };
            };
        };
        Command: {
            id: number;
            /** @enum {string} */
            kind: "upload_clip" | "set_layout" | "rotate_credentials";
            body: {
                [key: string]: unknown;
            };
            created_by: string;
            /** @enum {string} */
            state: "pending" | "done" | "failed";
            /** @description what the device answered */
            result: {
                [key: string]: unknown;
            } | null;
            /** @description epoch seconds */
            created_at: number;
            /** @description epoch seconds */
            acked_at: number | null;
        };
        DeviceDetail: {
            device: components["schemas"]["Device"];
            days: number;
            online_minutes: number;
            /** @description oldest first */
            metrics: components["schemas"]["MetricsRollup"][];
            /** @description each camera's zones, lines, rules and the detector's classes */
            layouts: {
                [key: string]: unknown;
            }[];
            /** @description newest first */
            commands: components["schemas"]["Command"][];
        };
        EdgeView: {
            device_id: string;
            site: string | null;
            id: string;
            camera: string;
            rule: string;
            kind: string;
            zone: string | null;
            label: string;
            alert: boolean;
            max_score: number;
            /** @description epoch seconds */
            started_at: number;
            /** @description epoch seconds */
            ended_at: number | null;
            /** @description epoch seconds */
            received_at: number;
            has_snapshot: boolean;
            /** @description its thumbnail is in central's media bucket */
            has_thumbnail: boolean;
            /** @description its clip is in central's media bucket */
            has_clip: boolean;
            /** @description x1, y1, x2, y2 as shares of the frame's width and height */
            box: [
                number,
                number,
                number,
                number
            ];
            /** @description seconds since the event started */
            path: [
                number,
                number,
                number
            ][];
        };
        Verdict: {
            job_id: string;
            /** @enum {string} */
            verdict: "confirmed" | "not_confirmed" | "label_differs";
            rule: string;
            edge_label: string;
            central_label: string | null;
            central_track: number | null;
            /** @description the share of the event's path where central's track stood with it */
            agreement: number;
        };
        CentralTrack: {
            track: number;
            label: string;
            /** @description seconds into the clip */
            first_seen: number;
            last_seen: number;
            max_score: number;
            best_t: number;
            /** @description x1, y1, x2, y2 as shares of the frame's width and height */
            best_box: [
                number,
                number,
                number,
                number
            ];
            /** @description seconds into the clip */
            path: [
                number,
                number,
                number
            ][];
        };
        CentralEvent: {
            rule: string;
            label: string;
            track: number | null;
            start: number;
            end: number | null;
            /** @description epoch seconds */
            started_at: number | null;
            max_score: number;
            /** @description x1, y1, x2, y2 as shares of the frame's width and height */
            box: [
                number,
                number,
                number,
                number
            ];
            /** @description no edge event of the rule matches it */
            missed: boolean;
            matched_event_id: string | null;
        };
        Analysis: {
            job_id: string;
            model: string;
            frames: number;
            duration_s: number;
            worker: string;
            /** @description the wall clock of the clip's first frame, when known */
            clip_start: number | null;
            /** @description epoch seconds */
            finished_at: number;
            tracks: components["schemas"]["CentralTrack"][];
            events: components["schemas"]["CentralEvent"][];
        };
        Job: {
            job_id: string;
            device_id: string;
            event_id: string;
            camera: string;
            /** @enum {string} */
            reason: "alert" | "sample" | "low_score" | "requested";
            /** @enum {string} */
            priority: "alert" | "normal";
            /** @enum {string} */
            state: "waiting_clip" | "ready" | "queued" | "done" | "failed";
            attempts: number;
            error: string | null;
            requested_by: string | null;
            /** @description epoch seconds */
            created_at: number;
            /** @description epoch seconds */
            queued_at: number | null;
            /** @description epoch seconds */
            finished_at: number | null;
        };
        EventReanalysis: {
            device_id: string;
            event_id: string;
            edge: components["schemas"]["EdgeView"];
            verdict: components["schemas"]["Verdict"] | null;
            analysis: components["schemas"]["Analysis"] | null;
            /** @description newest first */
            jobs: components["schemas"]["Job"][];
        };
        Disagreement: {
            /** @enum {string} */
            kind: "not_confirmed" | "label_differs" | "missed";
            device_id: string;
            site: string | null;
            camera: string;
            rule: string;
            /** @description null for an object the edge missed */
            edge_label: string | null;
            central_label: string | null;
            /** @description the edge event judged; for a missed object, the event whose clip showed it */
            event_id: string;
            job_id: string;
            agreement: number | null;
            max_score: number | null;
            /** @description x1, y1, x2, y2 as shares of the frame's width and height */
            box: number[] | null;
            /** @description epoch seconds */
            started_at: number;
            /** @description epoch seconds */
            analysed_at: number;
        };
        CameraRate: {
            device_id: string;
            site: string | null;
            camera: string;
            /** @description YYYY-MM-DD (UTC) */
            day: string;
            verdicts: number;
            confirmed: number;
            not_confirmed: number;
            label_differs: number;
            missed: number;
            /** @description not_confirmed / verdicts */
            false_alarm_rate: number | null;
            /** @description missed / (confirmed + missed) */
            missed_rate: number | null;
        };
        JobQueue: {
            by_state: {
                waiting_clip: number;
                ready: number;
                queued: number;
                done: number;
                failed: number;
            };
            /** @description age of the oldest job not done or failed */
            oldest_open_s: number | null;
            oldest_open: components["schemas"]["Job"][];
            /** @description the latest failures, with their error */
            failed: components["schemas"]["Job"][];
        };
        AlertDelivery: {
            level: number;
            /** @enum {string} */
            change: "raised" | "resolved";
            /** @description webhook:NAME, email:NAME, push or push:USER */
            channel: string;
            /** @enum {string} */
            state: "pending" | "delivered";
            attempts: number;
            last_result: string | null;
            /** @description epoch seconds */
            delivered_at: number | null;
        };
        Alert: {
            id: number;
            /** @enum {string} */
            kind: "device_offline" | "camera_offline" | "backlog" | "disk_low" | "false_alarms";
            /** @description the device, or device/camera */
            subject: string;
            device_id: string;
            camera: string | null;
            summary: string;
            /** @description the figures behind it */
            detail: {
                [key: string]: unknown;
            };
            /** @description epoch seconds */
            opened_at: number;
            /** @description the on-call level reached (from 1) */
            level: number;
            /** @description epoch seconds */
            level_at: number;
            /** @description epoch seconds */
            acked_at: number | null;
            /** @description a username, or `link` */
            acked_by: string | null;
            /** @description epoch seconds */
            resolved_at: number | null;
        };
        ListedAlert: components["schemas"]["Alert"] & {
            deliveries: components["schemas"]["AlertDelivery"][];
        };
        Acknowledged: {
            alert: components["schemas"]["Alert"];
            /** @description false: acknowledged or resolved before */
            acknowledged: boolean;
        };
        /** @description a message of the live WebSocket */
        LiveMessage: components["schemas"]["LiveHello"] | components["schemas"]["LiveEvents"] | components["schemas"]["LiveDevice"];
        LiveHello: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "hello";
            username: string;
        };
        LiveEvents: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "events";
            events: components["schemas"]["FleetEvent"][];
        };
        LiveDevice: {
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "device";
            device: components["schemas"]["Device"];
        };
        HardExample: {
            id: number;
            job_id: string;
            device_id: string;
            camera: string;
            /** @description epoch seconds */
            taken_at: number;
            /** @enum {string} */
            reason: "not_confirmed" | "label_differs" | "missed" | "low_confidence";
            width: number;
            height: number;
            /** @description central's boxes */
            labels: {
                /** @description a class of the model (COCO names) */
                label: string;
                /** @description x1, y1, x2, y2 as shares of the frame's width and height */
                box: [
                    number,
                    number,
                    number,
                    number
                ];
            }[];
            /** @enum {string} */
            review: "unreviewed" | "accepted" | "rejected" | "fixed";
            /** @description an operator's fix; wins over central's */
            reviewed_labels: {
                /** @description a class of the model (COCO names) */
                label: string;
                /** @description x1, y1, x2, y2 as shares of the frame's width and height */
                box: [
                    number,
                    number,
                    number,
                    number
                ];
            }[] | null;
            reviewed_by: string | null;
            /** @description epoch seconds */
            reviewed_at: number | null;
        };
        Model: {
            id: string;
            name: string;
            sha256: string;
            /** @description bytes */
            size: number;
            s3_key: string;
            input_shape: number[];
            output_shape: number[];
            num_classes: number;
            class_names: string[];
            /** @description the evaluation: gate {passed, reasons, settings}, base and candidate {heldout, regression} {map50, recall, recall_per_class, images, objects} */
            metrics: {
                [key: string]: unknown;
            };
            /** @description base model, dataset version, hyper-parameters, seed, training time */
            lineage: {
                [key: string]: unknown;
            };
            /** @enum {string} */
            state: "candidate" | "approved" | "rolling_out" | "deployed" | "retired";
            /** @description signed with central's model-signing key */
            signed: boolean;
            /** @description the evaluation gate rejected it: approving needs override */
            gate_rejected: boolean;
        };
        ListedModel: components["schemas"]["Model"] & {
            latest_rollout?: {
                id: number;
                /** @enum {string} */
                state: "running" | "paused" | "done";
            } | null;
        };
        ModelAudit: {
            id: number;
            /** @description epoch seconds */
            at: number;
            rollout_id: number | null;
            device_id: string | null;
            action: string;
            actor: string;
            detail: {
                [key: string]: unknown;
            };
        };
        RolloutSummary: {
            id: number;
            /** @enum {string} */
            state: "running" | "paused" | "done";
            stage: number;
            reason: string | null;
            created_by: string;
            /** @description epoch seconds */
            created_at: number;
            /** @description epoch seconds */
            finished_at: number | null;
        };
        ModelHealth: {
            /** @description detections per hour per label */
            per_hour: {
                [key: string]: number;
            };
            inference_ms: number | null;
            errors: number;
            seconds: number;
            rollups: number;
        };
        RolloutDevice: {
            device_id: string;
            /** @description 0: the canaries, then the waves */
            stage: number;
            /**
             * @description pending, downloading, installed (watched), healthy, refused, rolled back
             * @enum {string}
             */
            state: "waiting" | "installing" | "watching" | "updated" | "refused" | "rolled_back";
            reason: string | null;
            /** @description under the new model */
            health: components["schemas"]["ModelHealth"] | null;
            /** @description under the old model, before the install */
            baseline: components["schemas"]["ModelHealth"] | null;
            /** @description epoch seconds */
            updated_at: number;
        };
        Rollout: {
            id: number;
            model_id: string;
            /** @enum {string} */
            state: "running" | "paused" | "done";
            stage: number;
            reason: string | null;
            created_by: string;
            /** @description epoch seconds */
            created_at: number;
            /** @description epoch seconds */
            finished_at: number | null;
            /** @description stages (device ids, canaries first) and the health thresholds */
            plan: {
                [key: string]: unknown;
            };
            devices: components["schemas"]["RolloutDevice"][];
            audit: components["schemas"]["ModelAudit"][];
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
