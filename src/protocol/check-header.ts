/**
 * The header Switchyard's own checks send (the agent's test page, the interceptor's health
 * check). A server's interface never moves such a request elsewhere while it redirects
 * stateless users: a check is about the server itself, and one answered with a redirect
 * marked a server at its maximum load as down (issue 27: the README's demo took web-a out
 * that way). Anyone may send it; it only gets them served where they asked, as a stateful
 * page is.
 */
export const CHECK_HEADER = 'x-switchyard-check';
